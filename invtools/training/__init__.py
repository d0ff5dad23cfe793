"""Training and trained models: the :class:`Trainer` and its :class:`TrainConfig`
(:mod:`.trainer`), run configs (:mod:`.config`), losses (:mod:`.losses`), the training log
(:mod:`.log`), code-free checkpoints (:mod:`.checkpoint`) and the trained-model object that
``evaluate`` and ``reconstruct`` use (:mod:`.trained_model`)."""

from invtools.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from invtools.training.config import build_from_config, load_run_config, run_training
from invtools.training.trained_model import TrainedModel, load_model, resolve_model, shipped_models
from invtools.training.trainer import TrainConfig, Trainer

__all__ = ["CheckpointError", "TrainConfig", "TrainedModel", "Trainer", "build_from_config",
           "load_checkpoint", "load_model", "load_run_config", "resolve_model", "run_training",
           "save_checkpoint", "shipped_models"]

"""A small trainer for unrolled reconstructors: Adam, cosine or constant learning rate,
gradient clipping, MSE (+ optional TV) loss or a label loss for nets with a labelling output
layer (:mod:`invtools.training.losses`), validation every epoch, best and last
checkpoints, a CSV/JSON metrics log and a loss-curve PNG, and bit-for-bit resume (model,
optimiser, schedule, history and RNG states).

Under ``torchrun`` (``WORLD_SIZE > 1``) the network is wrapped in DistributedDataParallel
(gloo on CPU, nccl on CUDA), each process trains on its share of every epoch
(``DistributedSampler``), and only rank 0 writes files.  ``batch_size`` is per process."""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from invtools.analysis.metrics import label_metrics, summarize, total_variation
from invtools.nets.output_layers import level_labels
from invtools.nets.unrolled import UnrolledNet
from invtools.operators import Operator
from invtools.support.devices import resolve_device
from invtools.support.provenance import provenance
from invtools.support.validation import check_choice, check_float, check_int
from invtools.training.checkpoint import (
    load_checkpoint,
    malformed_record,
    numpy_rng_state,
    save_checkpoint,
    set_numpy_rng_state,
)
from invtools.training.log import write_log
from invtools.training.losses import LABEL_LOSS_FUNCTIONS, LABEL_LOSSES, LOSSES
from invtools.training.trained_model import load_model  # noqa: F401  (re-exported; it lived here before)

Tensor = torch.Tensor
PROGRESS_CHECK_EPOCHS = 3  # epochs after which train warns if validation has not beaten x0


@dataclass
class TrainConfig:
    """Training hyper-parameters (stored in every checkpoint)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "cosine"      # "cosine" (to lr * min_lr_factor) or "constant"
    min_lr_factor: float = 0.01
    grad_clip: float | None = 1.0    # max global gradient norm, None to disable
    tv_weight: float = 0.0
    loss: str = "mse"                # "mse", or for label nets "hamming" / "cross_entropy"
    init_from: str | None = None     # start from this checkpoint's weights (train configs)
    weight_decay: float = 0.0        # decoupled (AdamW) weight decay; 0 gives plain Adam
    seed: int = 0
    device: str = "auto"             # "auto", "cpu", "cuda"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse values that would train nothing or silently change the method."""
        check_int("epochs", self.epochs, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("seed", self.seed, 0)
        check_float("lr", self.lr, strict=True)
        check_choice("lr_schedule", self.lr_schedule, ("cosine", "constant"))
        check_float("min_lr_factor", self.min_lr_factor, maximum=1.0)
        if self.grad_clip is not None:
            check_float("grad_clip", self.grad_clip, strict=True)
        check_float("tv_weight", self.tv_weight)
        check_choice("loss", self.loss, LOSSES)
        check_float("weight_decay", self.weight_decay)
        if not isinstance(self.device, str) or not (
                self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device = {self.device!r}: must be auto, cpu, cuda or cuda:N")


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": numpy_rng_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`_rng_state`; the generator states are CPU byte tensors whatever device the
    checkpoint was mapped to (``load_checkpoint(..., map_location="cuda")`` moves them)."""
    torch.set_rng_state(state["torch"].cpu())
    set_numpy_rng_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


class Trainer:
    """Train ``net`` to map ``(y, op, x0)`` to ``x`` on datasets yielding ``(x, y, x0)``.

    Args:
        net: an unrolled network.
        op: the forward operator (its config is stored in checkpoints).
        train, val: datasets of ``(x, y, x0)`` tuples.
        config: hyper-parameters.
        out_dir: where ``last.pt``, ``best.pt`` and ``history.json`` go (None: no files),
            with ``history.csv`` and ``loss.png``.
        adjacency: element adjacency for mesh TV and mesh SSIM.
        progress: show a progress bar.
        metadata: JSON-serialisable record stored in checkpoints (e.g. the data recipe).
    """

    def __init__(self, net: UnrolledNet, op: Operator, train: Dataset, val: Dataset,
                 config: TrainConfig, out_dir: str | Path | None = None,
                 adjacency: sp.spmatrix | None = None, progress: bool = True,
                 metadata: dict[str, Any] | None = None):
        self.config, self.op, self.train_set, self.val_set = config, op, train, val
        _check_loss(net, config.loss)
        self.metadata = metadata or {}
        self.rank, self.world = _distributed_setup()
        self.device = resolve_device(config.device)
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", self.rank % torch.cuda.device_count())
        self.net = net.to(self.device)
        self.model: torch.nn.Module = self.net
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.adjacency = adjacency
        self.out_dir = Path(out_dir) if out_dir is not None and self.rank == 0 else None
        self.resume_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress and self.rank == 0
        if config.weight_decay > 0:
            self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=config.lr,
                                               weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        per_rank = math.ceil(len(train) / self.world)
        total = max(1, config.epochs * math.ceil(per_rank / config.batch_size))
        if config.lr_schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=total, eta_min=config.lr * config.min_lr_factor)
        elif config.lr_schedule == "constant":
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda _: 1.0)
        else:
            raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}")
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best = math.inf

    # --- one step ---------------------------------------------------------------------------
    @property
    def selection_metric(self) -> str:
        """The validation metric that picks ``best.pt``: ``mse``, or ``label_error`` when
        training on labels."""
        return "label_error" if self.config.loss in LABEL_LOSSES else "mse"

    def loss(self, x_hat: Tensor, x: Tensor, z: Tensor | None = None) -> Tensor:
        """The configured loss of the output x_hat (and class assignment z) against the truth x."""
        if self.config.loss in LABEL_LOSSES:
            labels = level_labels(x, self.net.label_levels)
            loss = LABEL_LOSS_FUNCTIONS[self.config.loss](z, labels)
        else:
            loss = torch.mean((x_hat - x) ** 2)
        if self.config.tv_weight:
            loss = loss + self.config.tv_weight * total_variation(x_hat, self.adjacency)
        return loss

    def _batches(self, data: Dataset, shuffle_seed: int | None):
        sampler = None
        if shuffle_seed is not None and self.world > 1:
            sampler = DistributedSampler(data, self.world, self.rank, shuffle=True, seed=shuffle_seed)
        elif shuffle_seed is not None:
            sampler = RandomSampler(data, generator=torch.Generator().manual_seed(shuffle_seed))
        return DataLoader(data, batch_size=self.config.batch_size, sampler=sampler)

    def _to_device(self, *tensors: Tensor) -> list[Tensor]:
        dtype = next(self.net.parameters()).dtype
        return [t.to(self.device, dtype) for t in tensors]

    def train_step(self, x: Tensor, y: Tensor, x0: Tensor) -> float:
        """One optimiser step on a batch of truths x, data y and initial guesses x0 (gradient
        clipping, then a learning-rate schedule step); returns the batch loss."""
        self.net.train()
        x, y, x0 = self._to_device(x, y, x0)
        loss = self._loss_of_batch(x, y, x0)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss.item()

    def _loss_of_batch(self, x: Tensor, y: Tensor, x0: Tensor) -> Tensor:
        if self.config.loss in LABEL_LOSSES:
            x_hat, z = self.model(y, self.op, x0, assignment=True)
            return self.loss(x_hat, x, z)
        return self.loss(self.model(y, self.op, x0), x)

    @torch.no_grad()
    def predict(self, data: Dataset) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstructions, ground truths and initial guesses for a whole dataset (on CPU)."""
        self.net.eval()
        outs, refs, inits = [], [], []
        for x, y, x0 in self._batches(data, None):
            y_d, x0_d = self._to_device(y, x0)
            x_hat = self.net(y_d, self.op, x0_d)
            outs.append(x_hat.cpu())
            refs.append(x)
            inits.append(x0)
        return torch.cat(outs), torch.cat(refs), torch.cat(inits)

    def evaluate(self, data: Dataset) -> dict[str, float]:
        """Mean metrics of the net's reconstructions of ``data``
        (:func:`~invtools.analysis.metrics.summarize`), with ``mse_x0`` of the initial guesses
        and, for label nets, ``label_error`` and ``dice_k``."""
        x_hat, x, x0 = self.predict(data)
        metrics = summarize(x_hat, x, self.adjacency)
        metrics["mse_x0"] = float(torch.mean((x0 - x) ** 2))
        levels = self.net.label_levels
        if levels is not None:
            metrics.update(label_metrics(level_labels(x_hat, levels), level_labels(x, levels), len(levels)))
        return metrics

    # --- loop ---------------------------------------------------------------------------------
    def fit(self, resume: bool = False, stop_after: int | None = None) -> list[dict[str, float]]:
        """Train up to ``config.epochs`` epochs, continuing from ``last.pt`` if ``resume``;
        ``stop_after`` ends this call after that many epochs (the run can be resumed)."""
        if resume:
            if self.resume_dir is None or not (self.resume_dir / "last.pt").exists():
                raise FileNotFoundError("nothing to resume: no last.pt in the output folder")
            self.load_state(self.resume_dir / "last.pt")
        else:
            torch.manual_seed(self.config.seed)
            np.random.seed(self.config.seed)  # noqa: NPY002 (legacy global RNG, for user code)
            random.seed(self.config.seed)
        end = self.config.epochs if stop_after is None else min(self.config.epochs,
                                                                 self.epoch + stop_after)
        bar = tqdm(range(self.epoch, end), initial=self.epoch,
                   total=self.config.epochs, disable=not self.progress, desc="epochs")
        for epoch in bar:
            t0 = time.perf_counter()
            losses = [self.train_step(x, y, x0) for x, y, x0 in
                      self._batches(self.train_set, self.config.seed * 100_003 + epoch)]
            val = self.evaluate(self.val_set)
            self.epoch = epoch + 1
            row = {"epoch": self.epoch, "train_loss": float(np.mean(losses)),
                   "lr": self.scheduler.get_last_lr()[0], "seconds": time.perf_counter() - t0,
                   **{f"val_{k}": v for k, v in val.items()}}
            self.history.append(row)
            bar.set_postfix(loss=f"{row['train_loss']:.3g}", val_mse=f"{val['mse']:.3g}")
            improved = val[self.selection_metric] < self.best
            self.best = min(self.best, val[self.selection_metric])
            self._warn_if_no_progress()
            if self.out_dir is not None:
                self.save(self.out_dir / "last.pt")
                if improved:
                    self.save(self.out_dir / "best.pt")
                write_log(self.history, self.out_dir)
        return self.history

    def _warn_if_no_progress(self) -> None:
        """Once, after ``PROGRESS_CHECK_EPOCHS`` epochs (or the last, if fewer): warn on stderr
        when the best validation MSE is not below the initial guess's."""
        if self.rank != 0 or self.epoch != min(PROGRESS_CHECK_EPOCHS, self.config.epochs):
            return
        best = min(row["val_mse"] for row in self.history)
        start = self.history[-1]["val_mse_x0"]
        if best < start:
            return
        tqdm.write(
            f"warning: after {self.epoch} epoch(s) the best validation MSE ({best:.4g}) is not below "
            f"the initial guess's ({start:.4g}): the net does not yet improve on x0. Check the "
            "initial guess (EIT nets learn little from a constant x0: use [x0] method = "
            '"linearized" in the data recipe), the learning rate, the number of training '
            "samples, and that the data's parametrisation is the one the net expects.",
            file=sys.stderr)

    # --- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The checkpoint record: architecture, model, optimiser and scheduler states, epoch,
        history, best validation metric, configs, RNG states, metadata and provenance."""
        return {"arch": self.net.arch, "detach_physics": self.net.detach_physics,
                "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": self.epoch,
                "history": self.history, "best": self.best, "config": asdict(self.config),
                "operator": self.op.config(), "rng": _rng_state(), "metadata": self.metadata,
                "provenance": provenance(self.config.seed)}

    def save(self, path: str | Path) -> None:
        """Write a checkpoint atomically (temporary file, then rename)."""
        save_checkpoint(self.state(), path)

    def load_state(self, path: str | Path) -> None:
        """Continue from a checkpoint (read without running anything from the file)."""
        ckpt = load_checkpoint(path, map_location=self.device)
        with malformed_record(path, "training state"):
            self.net.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            self.epoch, self.history, self.best = ckpt["epoch"], ckpt["history"], ckpt["best"]
            _set_rng_state(ckpt["rng"])


def _check_loss(net: torch.nn.Module, loss: str) -> None:
    """Refuse a loss the net's output cannot be trained by."""
    levels = getattr(net, "label_levels", None)
    if loss in LABEL_LOSSES and levels is None:
        raise ValueError(f"loss = {loss!r} needs a net with a labelling or softmax output layer "
                         "([net.output_layer] type = \"labeling\" or \"softmax\")")
    layer = (getattr(net, "arch", None) or {}).get("output_layer") or {}
    if loss == "mse" and layer.get("type") == "softmax":
        raise ValueError("a softmax output layer's image is its most likely level, which has no "
                         "gradient: train it with loss = \"cross_entropy\" or \"hamming\"")


def _distributed_setup() -> tuple[int, int]:
    """(rank, world size); initialises the default process group under torchrun."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not torch.distributed.is_available():
        return 0, 1
    if not torch.distributed.is_initialized():  # NCCL needs a GPU per process; gloo shares one
        nccl = torch.cuda.is_available() and torch.cuda.device_count() >= world
        torch.distributed.init_process_group("nccl" if nccl else "gloo")
    return torch.distributed.get_rank(), world



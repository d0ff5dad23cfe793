"""The recipes, training configs and sample files shipped in datasets/ stay valid."""

from pathlib import Path

import numpy as np
import pytest

from invtools.data.readers import read_measurements
from invtools.data.recipes import Problem, load_recipe
from invtools.training.config import load_run_config

DATASETS = Path(__file__).resolve().parents[1] / "datasets"


@pytest.mark.parametrize("path", sorted((DATASETS / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_example_recipes_load(path):
    problem = Problem(load_recipe(path))
    sample = problem.samples(np.arange(1), seed=0)
    assert np.all(np.isfinite(sample["x0"]))


@pytest.mark.parametrize("path", sorted(DATASETS.glob("train_*.toml")), ids=lambda p: p.name)
def test_training_configs_parse(path):
    cfg = load_run_config(path)
    assert cfg["net"]["arch"] in ("lpgd", "lpd", "unet") and Path(cfg["data"]["train"]).is_absolute()


def test_sample_files_match_their_recipes():
    blur = load_recipe("blur1d-rma")
    csv = read_measurements(DATASETS / "samples" / "blur1d_y.csv")
    npz = read_measurements(DATASETS / "samples" / "blur1d_y.npz")
    assert csv.y.shape == (4, 12) and np.allclose(csv.y, npz.y, rtol=1e-7)
    h5 = read_measurements(DATASETS / "samples" / "eit_discs2_4.h5")
    assert h5.operator is not None and h5.x.shape[0] == 4
    assert Problem(blur).op.n_out == 12

"""The recipes, training configs and sample files shipped in datasets/ stay valid, and so do the
studies' training configs (benchmarks/studies/configs/)."""

from pathlib import Path

import numpy as np
import pytest

from invtools.data.readers import read_measurements
from invtools.data.recipes import Problem, load_recipe
from invtools.nets import NETS
from invtools.training.config import load_run_config

DATASETS = Path(__file__).resolve().parents[1] / "datasets"


@pytest.mark.parametrize("path", sorted((DATASETS / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_example_recipes_load(path):
    recipe = load_recipe(path)
    reference = recipe.operator.get("reference")  # a device recipe's file, outside the repository
    if reference and not Path(reference).is_file():
        pytest.skip(f"{path.name}: its reference file {reference} is not in this checkout's shared/")
    problem = Problem(recipe)
    sample = problem.samples(np.arange(1), seed=0)
    assert np.all(np.isfinite(sample["x0"]))


STUDY_CONFIGS = DATASETS.parent / "benchmarks" / "studies" / "configs"


def test_the_study_configs_use_the_users_tank_data_and_run_folders():
    """Moved out of datasets/, they still read data/ktc_*.h5 and write runs/ at the checkout's root,
    and the labelling run starts from the regression run's checkpoint."""
    users = load_run_config(DATASETS / "train_ktc_unet.toml")
    root = DATASETS.parent.resolve()
    for name in ("train_ktc_lpgd", "train_ktc_labeling"):
        cfg = load_run_config(STUDY_CONFIGS / f"{name}.toml")
        for key in ("train", "val"):
            assert Path(cfg["data"][key]).resolve() == Path(users["data"][key]).resolve()
        assert Path(cfg["out"]).resolve().parent == root / "runs"
    labeling = load_run_config(STUDY_CONFIGS / "train_ktc_labeling.toml")
    lpgd = load_run_config(STUDY_CONFIGS / "train_ktc_lpgd.toml")
    assert Path(labeling["train"]["init_from"]).resolve() == Path(lpgd["out"]).resolve() / "best.pt"


@pytest.mark.parametrize("path", sorted(DATASETS.glob("train_*.toml")) + sorted(STUDY_CONFIGS.glob("*.toml")),
                         ids=lambda p: p.name)
def test_training_configs_parse(path):
    cfg = load_run_config(path)
    assert cfg["net"]["arch"] in NETS and Path(cfg["data"]["train"]).is_absolute()


def test_sample_files_match_their_recipes():
    blur = load_recipe("blur1d-rma")
    csv = read_measurements(DATASETS / "samples" / "blur1d_y.csv")
    npz = read_measurements(DATASETS / "samples" / "blur1d_y.npz")
    assert csv.y.shape == (4, 12) and np.allclose(csv.y, npz.y, rtol=1e-7)
    h5 = read_measurements(DATASETS / "samples" / "eit_discs2_4.h5")
    assert h5.operator is not None and h5.x.shape[0] == 4
    assert Problem(blur).op.n_out == 12

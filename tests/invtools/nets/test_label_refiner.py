"""The learned 256 x 256 labelling of a tank image: its features, its labels, its checkpoint
record (round trip, malformed records refused with the file named)."""

import numpy as np
import pytest
import torch

from invtools.analysis.segmentation import inside_frame_disk
from invtools.nets.label_refiner import LabelRefiner, refiner_from_record, refiner_record
from invtools.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from invtools.training.trained_model import load_model, resolve_model

SIGMA0 = 0.8


def blob_images(n: int = 32) -> np.ndarray:
    """(2, n, n) S/m: water, and water with a conductive disc in the upper half of the tank."""
    c = (np.arange(n) + 0.5) / n * 2 - 1
    x, y = np.meshgrid(c, c)  # the image model's order: row index growing with y
    water = np.full((n, n), SIGMA0)
    return np.stack([water, np.where((x**2 + (y - 0.5) ** 2) < 0.1, 10 * SIGMA0, SIGMA0)])


def test_features_carry_the_contrast_the_disk_and_the_levels_rule():
    r = LabelRefiner(channels=4, mid=64)
    f = r.features(blob_images(), SIGMA0)
    assert f.shape == (2, 4, 64, 64)
    assert torch.all(f[0, 0] == 0) and torch.all(f[0, 2:] == 0)  # water: no contrast, no class
    assert torch.equal(f[0, 1].bool(), torch.as_tensor(inside_frame_disk(64)))
    conductive = f[1, 2].bool()
    assert conductive.any() and not f[1, 3].any()
    rows = torch.nonzero(conductive)[:, 0]
    assert rows.float().mean() < 32  # the disc is in the upper half: frame row 0 is the top


def test_labels_are_the_challenge_classes_at_256_with_water_outside():
    torch.manual_seed(0)
    labels = LabelRefiner(channels=4).labels(blob_images(), SIGMA0)
    assert labels.shape == (2, 256, 256) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1, 2}
    assert np.all(labels[:, ~inside_frame_disk(256)] == 0)


def test_the_record_round_trips_to_the_same_logits():
    torch.manual_seed(1)
    r = LabelRefiner(channels=6, mid=32, level=0.7).eval()
    back = refiner_from_record(refiner_record(r))
    f = r.features(blob_images(), SIGMA0)
    assert back.config() == {"channels": 6, "mid": 32, "level": 0.7}
    assert torch.equal(r(f), back(f))


@pytest.mark.parametrize("record", [{"config": {"channels": 4}, "state": {}},
                                    {"config": {"channels": 4, "mid": 32, "level": 1.0}, "state": {}},
                                    {"config": {"channels": 0, "mid": 32, "level": 1.0}, "state": {}}])
def test_a_malformed_refiner_record_is_refused_naming_the_file(tmp_path, record):
    ckpt = load_checkpoint(resolve_model("ktc2023"))
    ckpt["label_refiner"] = record
    path = tmp_path / "bad.pt"
    save_checkpoint(ckpt, path)
    with pytest.raises(CheckpointError, match=r"bad\.pt.*label refiner"):
        load_model(path)


def test_the_shipped_tank_model_labels_at_256():
    model = load_model(resolve_model("ktc2023"))
    assert isinstance(model.label_refiner, LabelRefiner)
    n = model.operator.in_shape[-1]
    x = np.full((1, n, n), SIGMA0)
    assert np.all(model.label_refiner.labels(x, SIGMA0) == 0)  # water everywhere

"""The reconstruction's result: keyword fields (no positional list, no string keys), written to the
file's ``info`` attribute as they are, and the labelling decided by ``label_images`` alone."""

import json

import h5py
import numpy as np
import pytest

from forward_models.eit.pixel_grid import PixelCEMForward
from invtools.workflow.reconstruct import Reconstruction, reconstruct, write_reconstruction
from invtools.workflow.reconstruct.result import label_images, segmentation_rule


def tank_like(method: str, **fields) -> Reconstruction:
    """A difference image on an 8 x 8 pixel EIT model (rows growing with y, as a device's): water
    1 S/m, one conductive pixel block (x2.5) and one resistive block (x0.4)."""
    x = np.ones((1, 8, 8))
    x[0, 5:7, 5:7], x[0, 1:3, 1:3] = 2.5, 0.4
    return Reconstruction(x=x, method=method, operator=PixelCEMForward.example(), parametrization="log",
                          sigma0=1.0, mode="difference", pixel_rows="bottom-up", **fields)


def test_the_fields_are_keyword_only():
    op = PixelCEMForward.example()
    with pytest.raises(TypeError):
        Reconstruction(np.ones((1, 8, 8)), "gn", op, "log")  # the old positional call
    rec = Reconstruction(x=np.ones((1, 8, 8)), method="gn", operator=op, parametrization="log")
    assert rec.sigma0 is None and rec.mode is None and rec.warnings == [] and rec.source is None
    assert rec.info() == {name: getattr(rec, name) for name in Reconstruction.INFO_FIELDS}


def test_the_file_records_the_fields(tmp_path):
    rec = tank_like("gn", missing=31, level=2, lam=1e-5, warnings=["1 value <= 0 S/m"])
    write_reconstruction(rec, tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        info = json.loads(f.attrs["info"])
        assert f.attrs["source"] == "" and f.attrs["method"] == "gn"
    assert info == {"sigma0": 1.0, "mode": "difference", "missing": 31, "level": 2, "lam": 1e-5,
                    "objective": None, "warnings": ["1 value <= 0 S/m"], "label_frame": 1.0}


def test_the_labelling_is_decided_by_label_images_in_one_order():
    assert segmentation_rule("gn") == segmentation_rule("model") == "levels"
    assert segmentation_rule("linearized") == segmentation_rule("baseline") == "otsu"
    by_levels = label_images(tank_like("gn"))[0]
    # |log 2.5| < 1: fixed levels see no inclusion; |log 0.4| < 1 neither
    assert by_levels.shape == (256, 256) and set(np.unique(by_levels)) == {0}
    by_otsu = label_images(tank_like("linearized"))[0]
    assert set(np.unique(by_otsu)) == {0, 1, 2}  # Otsu on sigma - sigma0 finds both
    classes = np.zeros((1, 8, 8), dtype=np.int64)
    classes[0, 5:7, 5:7] = 2
    own = label_images(tank_like("model", labels=classes))[0]
    assert set(np.unique(own)) == {0, 2}  # a labelling output layer's classes come first
    made = np.ones((1, 256, 256), dtype=np.uint8)
    assert np.array_equal(label_images(tank_like("model", labels=classes, label_images=made)), made)


def test_a_loaded_model_reconstructs_like_its_name(ktc):
    from invtools.training.trained_model import load_model, resolve_model, shipped_models

    if "ktc2023" not in shipped_models():
        pytest.skip("no shipped tank model")
    path = ktc / "levels" / "level4" / "data3.mat"
    by_name = reconstruct(path, model="ktc2023")
    loaded = reconstruct(path, model=load_model(resolve_model("ktc2023")))
    np.testing.assert_array_equal(loaded.x, by_name.x)
    assert loaded.level == by_name.level == 4 and loaded.sigma0 == by_name.sigma0


BLOCK = np.array([[[0] * 8] * 5 + [[0] * 5 + [2, 2, 0]] * 2 + [[0] * 8]])  # a labelling layer's classes
SQUARE = np.pad(np.full((1, 128, 128), 2, np.uint8), ((0, 0), (64, 64), (64, 64)))  # a refiner's labels


@pytest.mark.parametrize("fields", [{}, {"labels": BLOCK}, {"label_images": SQUARE}])
def test_every_kind_of_label_is_resampled_to_the_label_frame(fields):
    from invtools.devices.label_frame import frame_labels

    on_image = label_images(tank_like("linearized", **fields))
    framed = label_images(tank_like("linearized", label_frame=1.25, **fields))
    assert np.array_equal(framed, frame_labels(on_image, 1.25))
    assert 0 < (framed > 0).sum() < (on_image > 0).sum()  # the objects shrink in a wider frame

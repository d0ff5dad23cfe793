"""The result of a reconstruction, and its HDF5 file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from invtools.analysis.segmentation import CLASS_NAMES
from invtools.data.h5file import DataFileError, element_name
from invtools.data.readers import Measurements
from invtools.operators import Operator


@dataclass(kw_only=True)
class Reconstruction:
    """The images of one measurement file, with what the method recorded, as keyword fields.

    x: (N, *in_shape) in physical units (conductivity S/m for EIT); ``method``: ``model``, ``gn``,
    ``linearized`` or ``baseline``; ``operator``: the physical forward model, ``parametrization``:
    the variable the method worked in (``log`` or ``identity``); ``source``: the measurement file.
    ``truth``: (N, *in_shape) when the file holds it. ``labels``: (N, *in_shape) class indices of
    a model with a labelling output layer (the index of each level), else None; ``label_images``:
    (N, 256, 256) labels the method made itself (a label-refining model, the organisers'
    baseline), else None. The rest are filled in where they apply: ``sigma0``, the water's
    conductivity (S/m) of tank data; ``mode``, ``"difference"`` or ``"absolute"`` for tank data;
    ``missing``, how many values of a sample were missing; ``level``, the challenge level whose
    mask the data have (None for any other mask); ``lam``, the prior weight (one per sample for
    plain files); ``objective``, the Gauss-Newton objective per iteration (absolute imaging);
    ``warnings``, the non-physical values found in x. A device's adapter sets ``pixel_rows`` to
    ``"bottom-up"``: x is a square pixel image whose row index grows with y (drawn flipped, row 0
    at the top); ``classes``: the names of labels 0, 1, 2 (its description's); ``label_frame``:
    the square the label images cover, over the image's (its ``[image] label_frame``:
    :mod:`invtools.devices.label_frame`)."""

    x: np.ndarray
    method: str
    operator: Operator
    parametrization: str
    source: Path | None = None
    truth: np.ndarray | None = None
    labels: np.ndarray | None = None
    label_images: np.ndarray | None = None
    sigma0: float | None = None
    mode: str | None = None
    missing: int | None = None
    level: int | None = None
    lam: float | list[float] | None = None
    objective: list[float] | None = None
    warnings: list[str] = field(default_factory=list)
    pixel_rows: str | None = None
    classes: tuple[str, str, str] = CLASS_NAMES
    label_frame: float = 1.0

    INFO_FIELDS: ClassVar[tuple[str, ...]] = ("sigma0", "mode", "missing", "level", "lam", "objective",
                                              "warnings", "label_frame")

    def info(self) -> dict[str, Any]:
        """The recorded fields (``INFO_FIELDS``) as a JSON-ready dict: the file's ``info`` attribute."""
        return {name: getattr(self, name) for name in self.INFO_FIELDS}

    @property
    def mesh(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(points, elements) of the operator's mesh, or None (pixel images, 1-D signals)."""
        from invtools.operators.geometry import find_mesh

        mesh = find_mesh(self.operator)
        return None if mesh is None else (mesh.p, mesh.t)


def check_width(meas: Measurements, op: Operator, what: str) -> None:
    """Refuse data whose measurement count differs from the operator's output size."""
    if meas.y.shape[1] != op.n_out:
        raise DataFileError(f"{meas.path}: {meas.y.shape[1]} measurements per sample, but {what} expects "
                            f"{op.n_out}")


def write_reconstruction(rec: Reconstruction, out: str | Path) -> Path:
    """HDF5 with ``x`` (N, *in_shape) physical units, optional ``x_true`` and ``labels`` (a label
    net's class indices), ``mesh`` group, and attributes ``method``, ``source``, ``operator``,
    ``parametrization``, ``info``, ``provenance``."""
    import io

    import h5py

    from invtools.support.atomic import write_bytes_atomic
    from invtools.support.provenance import provenance

    out = Path(out)
    buffer = io.BytesIO()  # built in memory: a full disk fails in one plain write, not inside HDF5
    with h5py.File(buffer, "w") as f:
        f.create_dataset("x", data=rec.x.astype(np.float64))
        if rec.truth is not None:
            f.create_dataset("x_true", data=rec.truth)
        if rec.labels is not None:
            f.create_dataset("labels", data=rec.labels.astype(np.uint8))
        if rec.mesh is not None:
            g = f.create_group("mesh")
            g.create_dataset("points", data=rec.mesh[0])
            g.create_dataset(element_name(rec.mesh[1]), data=rec.mesh[1])
        f.attrs["kind"] = "reconstruction"
        f.attrs["method"] = rec.method
        f.attrs["source"] = "" if rec.source is None else str(rec.source)
        f.attrs["parametrization"] = rec.parametrization
        f.attrs["operator"] = json.dumps(rec.operator.config())
        f.attrs["info"] = json.dumps(rec.info())
        f.attrs["provenance"] = json.dumps(provenance(None, command="reconstruct"))
    write_bytes_atomic(out, buffer.getvalue())
    return out


LEVEL_METHODS = ("model", "gn")  # their images are calibrated log-conductivities


def segmentation_rule(method: str) -> str:
    """How images of ``method`` become labels (:func:`~invtools.analysis.segmentation.segment_conductivity`):
    ``levels`` (fixed levels of ``log(sigma / sigma0)``) for the calibrated images of a trained
    model and of Gauss-Newton on log-conductivity, ``otsu`` (three-class Otsu on
    ``sigma - sigma0``) for the others."""
    return "levels" if method in LEVEL_METHODS else "otsu"


def label_images(rec: Reconstruction, n: int = 256) -> np.ndarray:
    """Three-class label images (N, n, n) of an EIT reconstruction in the organisers' pixel frame
    (:mod:`invtools.analysis.segmentation`); pixels outside the domain are water. The one place
    where the labelling is decided (``invtools reconstruct --segment``, the demo and the tank
    benchmark all call it), in this order: the labels the method made itself
    (``rec.label_images``: a label-refining model's, the organisers' baseline's Otsu2); the classes
    of a model with a labelling output layer (``rec.labels``: the index of its levels, listed
    water, resistive, conductive); else the images segmented by the method's
    :func:`segmentation_rule`: fixed levels of ``log(sigma / sigma0)`` for the calibrated images
    of a trained model or of Gauss-Newton on log-conductivity, three-class Otsu on
    ``sigma - sigma0`` for the one linearised step. sigma0 is ``rec.sigma0`` (the tank's fitted
    water), else the image's median. Last, the labels are resampled to the device's label frame
    (``rec.label_frame``, :func:`~invtools.devices.label_frame.frame_labels`)."""
    from invtools.devices.label_frame import frame_labels

    return frame_labels(_image_labels(rec, n), rec.label_frame)


def _image_labels(rec: Reconstruction, n: int) -> np.ndarray:
    """:func:`label_images` on the image's own square (before the label frame)."""
    from invtools.analysis.segmentation import grid_to_pixels, mesh_to_pixels, segment_conductivity

    n_pixels = int(round(np.sqrt(np.prod(rec.x.shape[1:])))) if rec.pixel_rows is not None else None
    if rec.mesh is None and n_pixels is None:
        raise ValueError("--segment needs an EIT reconstruction (on a mesh or a pixel image of one)")
    if rec.mesh is not None and np.asarray(rec.mesh[1]).shape[0] != 3:
        raise ValueError("--segment writes 2-D label images; this reconstruction is 3-D")
    def frame(values: np.ndarray) -> np.ndarray:
        if n_pixels is not None:
            return grid_to_pixels(values.reshape(n_pixels, n_pixels), n)
        points, triangles = rec.mesh
        return mesh_to_pixels(points, triangles, values, n, float(np.sqrt((points**2).sum(axis=0)).max()))

    if rec.label_images is not None:
        return np.asarray(rec.label_images, dtype=np.uint8)
    if rec.labels is not None:
        return np.stack([np.nan_to_num(frame(c.ravel().astype(np.float64))).astype(np.uint8)
                         for c in rec.labels])
    out = []
    for x in np.asarray(rec.x, dtype=np.float64).reshape(rec.x.shape[0], -1):
        sigma0 = rec.sigma0 if rec.sigma0 is not None else float(np.median(x))
        out.append(segment_conductivity(frame(x), sigma0, segmentation_rule(rec.method)))
    return np.stack(out)


LABEL_FORMATS = (".mat", ".npz", ".png")


def check_label_paths(paths: list[str | Path], n_images: int | None = None) -> None:
    """Refuse label-image paths of an unknown format, or a .mat for more than one image."""
    for path in paths:
        if Path(path).suffix not in LABEL_FORMATS:
            raise ValueError(f"--segment {path}: use a .mat, .npz or .png file name")
        if Path(path).suffix == ".mat" and n_images is not None and n_images != 1:
            raise ValueError(f"--segment {path}: the challenge's .mat layout holds one image, "
                             f"these data have {n_images}; use .npz")


def write_labels(labels: np.ndarray, out: str | Path, classes: tuple[str, ...] = CLASS_NAMES) -> Path:
    """Write label images (N, n, n): ``.mat`` in the challenge's layout (one image, variable
    ``reconstruction``), ``.npz`` (array ``labels``) or ``.png`` (a figure)."""
    import io

    from invtools.support.atomic import write_bytes_atomic

    out = Path(out)
    check_label_paths([out], labels.shape[0])
    buffer = io.BytesIO()
    if out.suffix == ".mat":
        import scipy.io

        scipy.io.savemat(buffer, {"reconstruction": labels[0].astype(np.int64)})
    elif out.suffix == ".npz":
        np.savez_compressed(buffer, labels=labels)
    elif out.suffix == ".png":
        from invtools.analysis.plotting import plot_label_images

        plot_label_images(labels, buffer, classes)  # with the tank's wall, electrode 1 and a colour key
    write_bytes_atomic(out, buffer.getvalue())
    return out

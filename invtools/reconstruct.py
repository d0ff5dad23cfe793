"""``invtools reconstruct``: images from a measurement file, by a trained model or by the
classical solver (Gauss-Newton, or one linearised step).

Where the forward model comes from: the KTC2023 layout defines its own tank model (difference
imaging against ``ref.mat``), an invtools HDF5 data set carries its operator, a checkpoint
carries the one it was trained with, and ``--recipe`` names one for bare NPZ/CSV files. Data
that do not fit the model (measurement count, electrode count, patterns) are refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
from invtools.composition import ComposedOperator, LinearOperator
from invtools.data.h5file import DataFileError
from invtools.data.readers import Measurements, read_measurements
from invtools.model import TrainedModel, load_model
from invtools.operators import Operator, operator_from_config
from invtools.parametrization import from_net, net_operator, to_net

METHODS = ("model", "gn", "linearized")


@dataclass
class Reconstruction:
    """x: (N, *in_shape) in physical units (conductivity S/m for EIT)."""

    x: np.ndarray
    method: str
    operator: Operator
    parametrization: str
    source: Path
    truth: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def mesh(self) -> tuple[np.ndarray, np.ndarray] | None:
        from invtools.geometry import find_mesh

        mesh = find_mesh(self.operator)
        return None if mesh is None else (mesh.p, mesh.t)


def _same_patterns(op_cfg: dict[str, Any], ktc: dict[str, np.ndarray]) -> str | None:
    """Why a (CEM) operator config does not fit KTC patterns, or None if it does."""
    if op_cfg.get("type") != "CEMForward":
        return f"the model's forward operator is {op_cfg.get('type')}, not CEM EIT"
    currents = np.asarray(op_cfg["currents"])
    if currents.shape[1] != ktc["currents"].shape[1]:
        return f"the model has {currents.shape[1]} electrodes, the file {ktc['currents'].shape[1]}"
    if currents.shape != ktc["currents"].shape or not np.allclose(currents, ktc["currents"], rtol=1e-6):
        return "the model's injection patterns differ from the file's"
    if any(not np.array_equal(np.asarray(m), ktc["measurement"]) for m in op_cfg["measurements"]):
        return "the model's measurement patterns differ from the file's"
    return None


def _masked(op: Operator, mask: np.ndarray | None) -> Operator:
    if mask is None:
        return op
    rows = np.nonzero(mask)[0]
    select = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, op.n_out))
    return ComposedOperator(LinearOperator(select, op.out_shape, (rows.size,)), op)


def _check_width(meas: Measurements, op: Operator, what: str) -> None:
    if meas.y.shape[1] != op.n_out:
        raise DataFileError(f"{meas.path}: {meas.y.shape[1]} measurements per sample, but {what} expects "
                            f"{op.n_out}")


def reconstruct(measurements: str | Path, model: str | Path | None = None, method: str | None = None,
                recipe: str | None = None, reference: str | Path | None = None,
                classical: ClassicalConfig | None = None, mesh_h: float = 0.0075,
                batch_size: int = 64) -> Reconstruction:
    """Read ``measurements`` and reconstruct with ``model`` or the classical ``method``."""
    method = method or ("model" if model is not None else "gn")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if method == "model" and model is None:
        raise ValueError("--method model needs --model CKPT")
    meas = read_measurements(measurements, reference)
    ccfg = classical or ClassicalConfig()
    ccfg = ClassicalConfig(**{**ccfg.__dict__, "method": "linearized" if method == "linearized" else "gn"})
    trained = load_model(model) if model is not None and method == "model" else None

    if meas.ktc is not None:
        return _reconstruct_ktc(meas, method, trained, ccfg, mesh_h)

    # --- the forward model of synthetic / generic files ---------------------------------------
    noise = None
    if trained is not None:
        op, param, what, noise = trained.operator, trained.parametrization, "the model", trained.noise_level
        if meas.operator is not None:
            trained.check_operator_config(meas.operator, str(meas.path))
    elif meas.operator is not None:
        op, param = operator_from_config(meas.operator), meas.parametrization or "identity"
        what, noise = "its forward model", meas.extra.get("noise")
    elif recipe is not None:
        from invtools.recipes import Problem, load_recipe

        r = load_recipe(recipe)
        op, param, what = Problem(r).op, r.parametrization, f"recipe {r.name}"
        noise = r.noise["relative"]
    else:
        raise ValueError(f"{meas.path} carries no forward model; pass --model CKPT or --recipe NAME")
    _check_width(meas, op, what)
    y = torch.as_tensor(meas.y, dtype=torch.float64)
    info: dict[str, Any] = {}
    if trained is not None:  # the stored x0, else the start the model was trained from
        x = trained.predict(y, meas.extra.get("x0"), batch_size).numpy()
        return Reconstruction(x, method, op, param, meas.path, meas.x, info)
    x0 = meas.extra.get("x0", np.full((meas.y.shape[0], *op.in_shape), 1.0 if param == "log" else 0.0))
    if ccfg.noise_level is None and noise:
        ccfg.noise_level = float(noise)
    s0 = torch.as_tensor(to_net(x0, param), dtype=torch.float64)
    s, infos = gauss_newton(net_operator(op, param), y, s0, ccfg)
    info["lam"] = [i.lam for i in infos]
    x = from_net(s.numpy().reshape(x0.shape), param)
    return Reconstruction(x, method, op, param, meas.path, meas.x, info)


def _reconstruct_ktc(meas: Measurements, method: str, trained: TrainedModel | None,
                     ccfg: ClassicalConfig, mesh_h: float) -> Reconstruction:
    """Difference imaging on the KTC2023 tank: sigma = sigma0 + delta with sigma0 the best
    homogeneous fit to the reference data. ``linearized``: one regularised step for the data
    difference; ``gn``: Gauss-Newton on log-conductivity for the data corrected by the
    reference's model error, y - (y_ref - F(sigma0)); ``model``: the network on those data."""
    from invtools import plugins

    tank = plugins.load(plugins.TANKS, "ktc2023")
    best_homogeneous, ktc_operator = tank.best_homogeneous, tank.ktc_operator

    if meas.reference is None:
        raise DataFileError(f"{meas.path}: difference imaging needs reference data (ref.mat)")
    if trained is not None:
        why = _same_patterns(trained.operator.config(), meas.ktc)
        if why is not None:
            raise DataFileError(f"{meas.path}: does not fit the model: {why}")
        if meas.mask is not None:
            raise DataFileError(f"{meas.path}: has missing values; a trained model needs complete data "
                                "(use --method gn or linearized)")
        op = trained.operator
    else:
        op = ktc_operator(meas.ktc["currents"], meas.ktc["measurement"], h=mesh_h)
    _check_width(meas, op, "the tank model")
    sigma0 = best_homogeneous(op, meas.reference, meas.mask)
    ones = torch.ones(1, op.n_in, dtype=torch.float64)
    keep = np.ones(op.n_out, dtype=bool) if meas.mask is None else meas.mask
    info: dict[str, Any] = {"sigma0": sigma0, "missing": int((~keep).sum()), "mode": "difference"}
    if method == "linearized":
        dy = torch.as_tensor((meas.y[0] - meas.reference)[keep])[None]
        delta, infos = linearized_step(_masked(op, meas.mask), dy, sigma0 * ones, ccfg)
        info["lam"] = infos[0].lam
        x = (sigma0 + delta).numpy()
    else:
        with torch.no_grad():
            model_error = meas.reference - op(sigma0 * ones)[0].numpy()
        y_corr = torch.as_tensor(meas.y[0] - model_error)[None]
        s0 = torch.full((1, op.n_in), float(np.log(sigma0)), dtype=torch.float64)
        if method == "gn":
            log_op = net_operator(_masked(op, meas.mask), "log")
            s, infos = gauss_newton(log_op, y_corr[:, keep], s0, ccfg)
            info["lam"] = infos[0].lam
        else:
            s = torch.log(trained.predict(y_corr, np.full((1, op.n_in), sigma0)))
        x = torch.exp(s).numpy()
    return Reconstruction(x, method, op, "log", meas.path, None, info)


def write_reconstruction(rec: Reconstruction, out: str | Path) -> Path:
    """HDF5 with ``x`` (N, *in_shape) physical units, optional ``x_true``, ``mesh`` group, and
    attributes ``method``, ``source``, ``operator``, ``parametrization``, ``info``, ``provenance``."""
    import io

    import h5py

    from invtools.atomic import write_bytes_atomic
    from invtools.provenance import provenance

    out = Path(out)
    buffer = io.BytesIO()  # built in memory: a full disk fails in one plain write, not inside HDF5
    with h5py.File(buffer, "w") as f:
        f.create_dataset("x", data=rec.x.astype(np.float64))
        if rec.truth is not None:
            f.create_dataset("x_true", data=rec.truth)
        if rec.mesh is not None:
            g = f.create_group("mesh")
            g.create_dataset("points", data=rec.mesh[0])
            g.create_dataset("triangles", data=rec.mesh[1])
        f.attrs["kind"] = "reconstruction"
        f.attrs["method"] = rec.method
        f.attrs["source"] = str(rec.source)
        f.attrs["parametrization"] = rec.parametrization
        f.attrs["operator"] = json.dumps(rec.operator.config())
        f.attrs["info"] = json.dumps(rec.info)
        f.attrs["provenance"] = json.dumps(provenance(None, command="reconstruct"))
    write_bytes_atomic(out, buffer.getvalue())
    return out

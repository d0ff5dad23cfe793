"""Adapter for the KTC2023 water tank (``.mat`` files with ``Uel``, ``Inj``, ``Mpat`` and a
``ref.mat`` beside them): difference imaging on the tank model that the ``ktc2023`` tank plug-in
provides (:mod:`invtools.plugins`), or with a model trained on that tank's patterns."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
from invtools.composition import ComposedOperator, LinearOperator
from invtools.data.h5file import DataFileError
from invtools.data.readers import Measurements
from invtools.model import TrainedModel
from invtools.operators import Operator
from invtools.parametrization import net_operator
from invtools.reconstruct.result import Reconstruction, check_width


def accepts(meas: Measurements) -> bool:
    return meas.ktc is not None


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


def reconstruct_ktc(meas: Measurements, method: str, trained: TrainedModel | None,
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
        op = ktc_operator(meas.ktc["currents"], meas.ktc["measurement"], mesh_size=mesh_h)
    check_width(meas, op, "the tank model")
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



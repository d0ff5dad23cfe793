"""How the networks see the unknown: ``identity`` (x itself) or ``log`` (s = log x, for
positive quantities such as conductivity, so iterates never leave the domain).

Data files store x in physical units; the torch data set and ``reconstruct`` convert.
"""

from __future__ import annotations

import numpy as np
import torch

from invtools.operators.composition import log_parametrized
from invtools.operators.interface import Operator

PARAMETRIZATIONS = ("identity", "log")


def _check(kind: str) -> None:
    if kind not in PARAMETRIZATIONS:
        raise ValueError(f"unknown parametrization {kind!r}; choose one of {PARAMETRIZATIONS}")


def to_net(x, kind: str):
    """Physical values -> network variable (numpy array or tensor)."""
    _check(kind)
    if kind == "identity":
        return x
    if (x <= 0).any():
        raise ValueError("log parametrization needs positive values (e.g. conductivity > 0)")
    return torch.log(x) if isinstance(x, torch.Tensor) else np.log(x)


def from_net(s, kind: str):
    """Network variable -> physical values."""
    _check(kind)
    if kind == "identity":
        return s
    return torch.exp(s) if isinstance(s, torch.Tensor) else np.exp(s)


def net_operator(op: Operator, kind: str) -> Operator:
    """The operator on the network variable: ``op`` or ``s -> op(exp(s))``."""
    _check(kind)
    return op if kind == "identity" else log_parametrized(op)

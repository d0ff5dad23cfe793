"""The forward-operator interface shared by every forward model.

An :class:`Operator` maps a batch ``x`` of shape ``(B, *in_shape)`` to ``y`` of shape
``(B, *out_shape)`` (batch first, torch tensors).  The public vocabulary follows deepinv:

- ``A(x)``            forward map, differentiable through the operator's own VJP;
- ``A_jvp(x, v)``     Jacobian-vector product ``J(x) v``;
- ``A_vjp(x, w)``     vector-Jacobian product ``J(x)^T w``, itself differentiable
  (w.r.t. ``w`` via ``A_jvp`` and w.r.t. ``x`` via ``A_hvp`` when the operator has it);
- ``A_hvp(x, w, u)``  second-order term ``d/dx <w, J(x) u>``;
- ``jacobian(x)``     dense ``(B, m, n)`` Jacobian, for small problems;
- ``data_fit_gradient(x, y)``  ``J(x)^T (A(x) - y)`` sharing one linearisation.

Subclasses implement a small private protocol and never rely on autograd through a solver::

    _forward(x) -> (y, state)          # state: whatever the derivatives reuse
    _jvp(x, state, v) -> Jv
    _vjp(x, state, w) -> J^T w
    _hvp(x, state, w, u) -> d/dx <w, J u>     (optional)
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Any, ClassVar

import torch
from torch.autograd.function import once_differentiable

from invtools.operators import plugins

Tensor = torch.Tensor


_FORWARD_ONLY = contextvars.ContextVar("invtools_forward_only", default=False)


def forward_only() -> bool:
    """True while an operator's ``_forward`` runs for a forward pass that no derivative will
    follow (``A(x)`` under ``torch.no_grad()`` or of an ``x`` that needs no gradient): an
    operator may then skip work that only its derivatives use. False everywhere else."""
    return _FORWARD_ONLY.get()


@contextlib.contextmanager
def _forward_pass(only: bool):
    token = _FORWARD_ONLY.set(only)
    try:
        yield
    finally:
        _FORWARD_ONLY.reset(token)


class OperatorInputError(ValueError):
    """An operator received input of the wrong shape or with non-finite values."""


class Operator:
    """Base class of batched differentiable forward operators.

    Attributes:
        in_shape: shape of one input sample (without the batch dimension).
        out_shape: shape of one output sample.
        has_hvp: whether ``_hvp`` is implemented (second-order derivatives).
        is_linear: whether the operator is linear (its HVP is zero), so compositions can skip
            the terms it would weigh.
    """

    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    has_hvp: ClassVar[bool] = False
    is_linear: ClassVar[bool] = False

    # --- the protocol subclasses implement -------------------------------------------------
    def _forward(self, x: Tensor) -> tuple[Tensor, Any]:
        raise NotImplementedError

    def _jvp(self, x: Tensor, state: Any, v: Tensor) -> Tensor:
        raise NotImplementedError

    def _vjp(self, x: Tensor, state: Any, w: Tensor) -> Tensor:
        raise NotImplementedError

    def _hvp(self, x: Tensor, state: Any, w: Tensor, u: Tensor) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} provides no second derivatives (A_hvp); detach the physics "
            "(e.g. detach_physics=True) or use an operator with has_hvp=True"
        )

    def config(self) -> dict[str, Any]:
        """A JSON-serialisable dict from which :func:`operator_from_config` rebuilds the operator."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Operator:
        """Rebuild the operator from the dict its :meth:`config` returns (its ``"type"`` names
        this class)."""
        raise NotImplementedError

    @classmethod
    def example(cls) -> Operator:
        """A small instance, for the contract tests every registered operator runs."""
        raise NotImplementedError(f"{cls.__name__}.example() is missing: a registered operator "
                                  "provides a small instance for the contract tests")

    def example_input(self, batch: int = 2, seed: int = 0) -> Tensor:
        """A valid float64 input batch (batch, *in_shape): standard normal unless overridden."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(batch, *self.in_shape, generator=gen, dtype=torch.float64)

    # --- sizes and validation ------------------------------------------------------------
    @property
    def n_in(self) -> int:
        return math.prod(self.in_shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.out_shape)

    def _check(self, x: Tensor, shape: tuple[int, ...], name: str, missing: bool = False) -> None:
        """``missing``: NaN (a missing value) is allowed, Inf is not."""
        if not isinstance(x, torch.Tensor):
            raise OperatorInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != tuple(shape):
            raise OperatorInputError(
                f"{type(self).__name__}: {name} must have shape (B, {', '.join(map(str, shape))})"
                f", got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise OperatorInputError(f"{name} must be a floating-point tensor, got {x.dtype}")
        bad = torch.isinf(x) if missing else ~torch.isfinite(x)
        if bool(bad.any()):
            raise OperatorInputError(f"{type(self).__name__}: {name} contains "
                                     f"{'Inf' if missing else 'NaN or Inf'}")
        if missing and not bool(torch.isfinite(x).reshape(x.shape[0], -1).any(dim=1).all()):
            raise OperatorInputError(f"{type(self).__name__}: a sample of {name} has every value missing")

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`OperatorInputError` unless ``x`` is a valid batch of inputs."""
        self._check(x, self.in_shape, "x")

    # --- public API ------------------------------------------------------------------------
    def A(self, x: Tensor) -> Tensor:
        """Forward map ``(B, *in_shape) -> (B, *out_shape)``, differentiable w.r.t. ``x``."""
        self.check_input(x)
        with _forward_pass(not (torch.is_grad_enabled() and x.requires_grad)):
            return _ForwardFunction.apply(x, self, None)

    __call__ = A

    def A_jvp(self, x: Tensor, v: Tensor) -> Tensor:
        """``J(x) v`` for ``v`` of shape ``(B, *in_shape)`` (not differentiable)."""
        self.check_input(x)
        self._check(v, self.in_shape, "v")
        with torch.no_grad():
            _, state = self._forward(x.detach())
            return self._jvp(x.detach(), state, v.detach())

    def A_vjp(self, x: Tensor, w: Tensor) -> Tensor:
        """``J(x)^T w`` for ``w`` of shape ``(B, *out_shape)``, differentiable in ``x`` and ``w``."""
        self.check_input(x)
        self._check(w, self.out_shape, "w")
        with torch.no_grad():
            _, state = self._forward(x.detach())
        return _VJPFunction.apply(x, w, self, state)

    def A_hvp(self, x: Tensor, w: Tensor, u: Tensor) -> Tensor:
        """``d/dx <w, J(x) u>`` (the Hessian of ``<w, A(x)>`` applied to ``u``)."""
        self.check_input(x)
        self._check(w, self.out_shape, "w")
        self._check(u, self.in_shape, "u")
        with torch.no_grad():
            _, state = self._forward(x.detach())
            return self._hvp(x.detach(), state, w.detach(), u.detach())

    def data_fit_gradient(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Residual ``A(x) - y`` and gradient ``J(x)^T (A(x) - y)`` from one linearisation.

        Both outputs are differentiable w.r.t. ``x`` (and ``y``); second-order terms need
        ``has_hvp``.  Shapes: residual ``(B, *out_shape)``, gradient ``(B, *in_shape)``.
        NaN in y marks a missing value: its residual is 0, so the fit uses the kept values only.
        """
        self.check_input(x)
        self._check(y, self.out_shape, "y", missing=True)
        holder: dict[str, Any] = {}
        kept = torch.isfinite(y)
        if bool(kept.all()):
            residual = _ForwardFunction.apply(x, self, holder) - y
        else:
            residual = (_ForwardFunction.apply(x, self, holder) - torch.nan_to_num(y)) * kept
        return residual, _VJPFunction.apply(x, residual, self, holder["state"])

    def jacobian(self, x: Tensor) -> Tensor:
        """Dense Jacobian of shape ``(B, n_out, n_in)``; built from VJPs or JVPs, whichever is fewer."""
        self.check_input(x)
        x = x.detach()
        B = x.shape[0]
        with torch.no_grad():
            _, state = self._forward(x)
            eye_kw = {"dtype": x.dtype, "device": x.device}
            if self.n_out <= self.n_in:
                rows = []
                for i in range(self.n_out):
                    w = torch.zeros(B, self.n_out, **eye_kw)
                    w[:, i] = 1.0
                    rows.append(self._vjp(x, state, w.reshape(B, *self.out_shape)).reshape(B, -1))
                return torch.stack(rows, dim=1)
            cols = []
            for j in range(self.n_in):
                v = torch.zeros(B, self.n_in, **eye_kw)
                v[:, j] = 1.0
                cols.append(self._jvp(x, state, v.reshape(B, *self.in_shape)).reshape(B, -1))
            return torch.stack(cols, dim=2)

    def vjp_rows(self, x: Tensor, rows: Tensor) -> Tensor:
        """``rows @ J(x)`` (B, k, n_in): the VJP of every row of ``rows`` (B, k, n_out), e.g. an
        outer operator's Jacobian pulled back through this one (chain rule). By the dense
        Jacobian here; linear and pointwise operators do it without one."""
        return torch.bmm(rows, self.jacobian(x).reshape(x.shape[0], self.n_out, self.n_in))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(in_shape={self.in_shape}, out_shape={self.out_shape})"


class _ForwardFunction(torch.autograd.Function):
    """``y = op(x)`` whose backward is the operator's own VJP (never autograd through a solver)."""

    @staticmethod
    def forward(ctx, x: Tensor, op: Operator, holder: dict | None) -> Tensor:  # type: ignore[override]
        y, state = op._forward(x.detach())
        ctx.op, ctx.state = op, state
        ctx.save_for_backward(x)
        if holder is not None:
            holder["state"] = state
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return _VJPFunction.apply(x, grad_y, ctx.op, ctx.state), None, None


class _VJPFunction(torch.autograd.Function):
    """``g = J(x)^T w``; its backward uses ``A_jvp`` (for ``w``) and ``A_hvp`` (for ``x``)."""

    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor, op: Operator, state: Any) -> Tensor:  # type: ignore[override]
        ctx.op, ctx.state = op, state
        ctx.save_for_backward(x, w)
        return op._vjp(x.detach(), state, w.detach())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_g: Tensor):  # type: ignore[override]
        x, w = ctx.saved_tensors
        op, state = ctx.op, ctx.state
        grad_x = op._hvp(x, state, w, grad_g) if ctx.needs_input_grad[0] else None
        grad_w = op._jvp(x, state, grad_g) if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None, None


# --- configuration registry ------------------------------------------------------------------
_REGISTRY: dict[str, type[Operator]] = {}


def register_operator(cls: type[Operator]) -> type[Operator]:
    """Class decorator: make ``cls`` reconstructible by :func:`operator_from_config` in this
    process. Packages make their operators known to every process by an entry point in group
    ``invtools.operators`` (:mod:`invtools.operators.plugins`)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def operator_class(kind: str) -> type[Operator]:
    """The operator class whose ``config()["type"]`` is ``kind``: registered in this process,
    or found by its entry point (invtools' own, :mod:`invtools.operators.composition`, too)."""
    if kind not in _REGISTRY and kind in plugins.names(plugins.OPERATORS):
        _REGISTRY[kind] = plugins.load(plugins.OPERATORS, kind)
    if kind not in _REGISTRY:
        known = sorted(set(_REGISTRY) | set(plugins.names(plugins.OPERATORS)))
        raise ValueError(f"unknown operator type {kind!r}; known: {known}")
    return _REGISTRY[kind]


def registered_operators() -> dict[str, type[Operator]]:
    """Every operator class known here: registered in this process, and all entry points."""
    for kind in plugins.names(plugins.OPERATORS):
        operator_class(kind)
    return dict(sorted(_REGISTRY.items()))


def operator_from_config(cfg: dict[str, Any]) -> Operator:
    """Rebuild an operator from ``op.config()`` (e.g. read back from a data-set file)."""
    if not isinstance(cfg, dict):
        raise ValueError(f"an operator config must be a table, got {type(cfg).__name__}")
    return operator_class(cfg.get("type")).from_config(cfg)

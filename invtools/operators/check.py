"""``check_operator``: finite differences, adjoint identity and gradcheck for any Operator."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from invtools.operators.interface import Operator


@dataclass
class OperatorCheck:
    """Result of :func:`check_operator`; all errors are relative (dimensionless).

    fd_rel_error:       ||FD(x; v) - J v|| / ||J v||, 4-point central differences.
    adjoint_rel_error:  |<J v, w> - <v, J^T w>| / (||J v|| ||w||).
    jacobian_rel_error: ||jacobian(x) v - J v|| / ||J v|| (None if not checked).
    hvp_rel_error:      FD of the VJP against A_hvp (None if the operator has no hvp).
    gradcheck / gradgradcheck: torch.autograd results (None if not run).
    """

    fd_rel_error: float
    adjoint_rel_error: float
    jacobian_rel_error: float | None
    hvp_rel_error: float | None
    gradcheck: bool | None
    gradgradcheck: bool | None
    rtol: float

    @property
    def passed(self) -> bool:
        errors = [self.fd_rel_error, self.adjoint_rel_error, self.jacobian_rel_error,
                  self.hvp_rel_error]
        ok = all(e is None or e < self.rtol for e in errors)
        return ok and self.gradcheck is not False and self.gradgradcheck is not False


def _central_difference(f, x: torch.Tensor, v: torch.Tensor, h: float) -> torch.Tensor:
    """Fourth-order central difference of ``f`` at ``x`` in direction ``v``."""
    return (8 * (f(x + h * v) - f(x - h * v)) - (f(x + 2 * h * v) - f(x - 2 * h * v))) / (12 * h)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(torch.finfo(b.dtype).tiny))


def check_operator(
    op: Operator,
    x: torch.Tensor,
    *,
    rtol: float = 1e-6,
    step: float | None = None,
    seed: int = 0,
    gradcheck: bool = True,
    check_jacobian: bool = True,
    raise_on_failure: bool = True,
) -> OperatorCheck:
    """Verify an operator's derivatives at ``x`` (converted to float64).

    Args:
        op: the operator; ``x`` has shape ``(B, *op.in_shape)``.
        rtol: tolerance on every relative error.
        step: finite-difference step (default ``1e-3 * max(1, |x|_inf) / |v|_inf``).
        seed: seeds the random directions ``v`` and ``w``.
        gradcheck: also run ``torch.autograd.gradcheck`` (and ``gradgradcheck`` when
            ``op.has_hvp``) in fast mode.
        check_jacobian: compare ``op.jacobian(x) @ v`` with ``J v``.
        raise_on_failure: raise ``AssertionError`` with the report if a check fails.
    """
    x = x.detach().to(torch.float64)
    # offset the seed so that v is never the same draw as an x made with torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(1_000_003 + 7919 * seed)
    v = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device)
    w = torch.randn((x.shape[0], *op.out_shape), generator=gen, dtype=torch.float64).to(x.device)
    if step is None:
        step = 1e-3 * max(1.0, float(x.abs().max())) / float(v.abs().max())

    with torch.no_grad():
        jv = op.A_jvp(x, v)
        fd = _central_difference(op.A, x, v, step)
        fd_err = _rel(fd, jv)
        jtw = op.A_vjp(x, w)
        lhs, rhs = float((jv * w).sum()), float((v * jtw).sum())
        adj_err = abs(lhs - rhs) / max(float(jv.norm() * w.norm()), 1e-300)
        jac_err = None
        if check_jacobian:
            jac = op.jacobian(x)
            jac_err = _rel(torch.einsum("bmn,bn->bm", jac, v.reshape(x.shape[0], -1)),
                           jv.reshape(x.shape[0], -1))
        hvp_err = None
        if op.has_hvp:
            u = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device)
            hvp = op.A_hvp(x, w, u)
            fd_h = _central_difference(lambda z: op.A_vjp(z, w), x, u, step)
            hvp_err = _rel(fd_h, hvp)

    gc = ggc = None
    if gradcheck:
        xg = x.clone().requires_grad_(True)
        gc = torch.autograd.gradcheck(op.A, (xg,), fast_mode=True, raise_exception=False)
        if op.has_hvp:
            ggc = torch.autograd.gradgradcheck(op.A, (xg,), fast_mode=True,
                                               raise_exception=False)

    report = OperatorCheck(fd_err, adj_err, jac_err, hvp_err, gc, ggc, rtol)
    if raise_on_failure and not report.passed:
        raise AssertionError(f"check_operator failed for {op!r}: {report}")
    return report

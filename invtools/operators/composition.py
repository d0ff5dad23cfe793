"""Linear operators and composition of operators (chain rule for JVP, VJP and HVP)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from invtools.operators.interface import Operator, operator_from_config, register_operator

Tensor = torch.Tensor


@register_operator
class LinearOperator(Operator):
    """``y = M x`` for a sparse or dense matrix ``M`` (n_out, n_in), on flattened samples."""

    has_hvp = True
    is_linear = True

    def __init__(self, matrix, in_shape: tuple[int, ...], out_shape: tuple[int, ...]):
        self.matrix = sp.csr_matrix(matrix, dtype=np.float64)
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        if self.matrix.shape != (self.n_out, self.n_in):
            raise ValueError(f"matrix shape {self.matrix.shape} does not match "
                             f"{self.out_shape} <- {self.in_shape}")
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def _mats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (like.device, like.dtype)
        if key not in self._cache:
            def to_torch(m: sp.csr_matrix) -> Tensor:
                c = m.tocoo()
                index = torch.as_tensor(np.stack([c.row, c.col]), dtype=torch.int64)
                values = torch.as_tensor(c.data, dtype=like.dtype)
                return torch.sparse_coo_tensor(index, values, size=c.shape, device=like.device,
                                               check_invariants=False).coalesce()
            self._cache[key] = (to_torch(self.matrix), to_torch(self.matrix.T.tocsr()))
        return self._cache[key]

    def _apply(self, M: Tensor, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return torch.sparse.mm(M, x.reshape(x.shape[0], -1).T).T.reshape(x.shape[0], *shape)

    def _forward(self, x: Tensor) -> tuple[Tensor, None]:
        return self._apply(self._mats(x)[0], x, self.out_shape), None

    def _jvp(self, x: Tensor, state: None, v: Tensor) -> Tensor:
        return self._apply(self._mats(v)[0], v, self.out_shape)

    def _vjp(self, x: Tensor, state: None, w: Tensor) -> Tensor:
        return self._apply(self._mats(w)[1], w, self.in_shape)

    def _hvp(self, x: Tensor, state: None, w: Tensor, u: Tensor) -> Tensor:
        return torch.zeros_like(u)

    def vjp_rows(self, x: Tensor, rows: Tensor) -> Tensor:
        """``rows @ M`` (B, k, n_in) by one sparse product (scipy's on the CPU)."""
        B, k = rows.shape[:2]
        flat = rows.reshape(B * k, self.n_out)
        if flat.device.type == "cpu":
            out = torch.from_numpy(np.asarray(flat.detach().double().numpy() @ self.matrix))
        else:
            out = self._apply(self._mats(flat)[1], flat, (self.n_in,))
        return out.to(rows.dtype).reshape(B, k, self.n_in)

    def jacobian(self, x: Tensor) -> Tensor:
        """The matrix itself, (B, n_out, n_in), with no products."""
        self.check_input(x)
        dense = torch.as_tensor(self.matrix.toarray(), dtype=x.dtype, device=x.device)
        return dense.expand(x.shape[0], -1, -1).clone()

    def config(self) -> dict[str, Any]:
        m = self.matrix.tocoo()
        return {"type": type(self).__name__, "shape": list(m.shape), "row": m.row.tolist(),
                "col": m.col.tolist(), "data": m.data.tolist(), "in_shape": list(self.in_shape),
                "out_shape": list(self.out_shape)}

    @classmethod
    def example(cls) -> LinearOperator:
        return cls(np.random.default_rng(0).standard_normal((6, 12)), (3, 4), (6,))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> LinearOperator:
        m = sp.coo_matrix((cfg["data"], (cfg["row"], cfg["col"])), shape=tuple(cfg["shape"]))
        return cls(m, tuple(cfg["in_shape"]), tuple(cfg["out_shape"]))


@register_operator
class ComposedOperator(Operator):
    """``outer(inner(x))``; derivatives by the chain rule from the two operators' own ones."""

    def __init__(self, outer: Operator, inner: Operator):
        if tuple(inner.out_shape) != tuple(outer.in_shape):
            raise ValueError(f"cannot compose: inner output {inner.out_shape} != outer input "
                             f"{outer.in_shape}")
        self.outer, self.inner = outer, inner
        self.in_shape, self.out_shape = inner.in_shape, outer.out_shape
        self.has_hvp = outer.has_hvp and inner.has_hvp  # type: ignore[misc]

    def _forward(self, x: Tensor):
        z, s_in = self.inner._forward(x)
        self.outer.check_input(z)
        y, s_out = self.outer._forward(z)
        return y, (z, s_in, s_out)

    def _jvp(self, x: Tensor, state, v: Tensor) -> Tensor:
        z, s_in, s_out = state
        return self.outer._jvp(z, s_out, self.inner._jvp(x, s_in, v))

    def _vjp(self, x: Tensor, state, w: Tensor) -> Tensor:
        z, s_in, s_out = state
        return self.inner._vjp(x, s_in, self.outer._vjp(z, s_out, w))

    def _hvp(self, x: Tensor, state, w: Tensor, u: Tensor) -> Tensor:
        z, s_in, s_out = state
        inner_u = self.inner._jvp(x, s_in, u)
        outer_part = self.inner._vjp(x, s_in, self.outer._hvp(z, s_out, w, inner_u))
        if self.inner.is_linear:  # no curvature inside: skip the outer VJP its HVP would weigh
            return outer_part
        return outer_part + self.inner._hvp(x, s_in, self.outer._vjp(z, s_out, w), u)

    def jacobian(self, x: Tensor) -> Tensor:
        """Chain rule: the outer operator's dense Jacobian, pulled back through the inner one
        (:meth:`~invtools.operators.interface.Operator.vjp_rows`: a sparse product for a linear
        map, a column scaling for a pointwise one)."""
        self.check_input(x)
        with torch.no_grad():
            z = self.inner.A(x.detach())
            J_out = self.outer.jacobian(z).reshape(x.shape[0], self.n_out, -1)
            return self.inner.vjp_rows(x.detach(), J_out)

    def config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "outer": self.outer.config(),
                "inner": self.inner.config()}

    @classmethod
    def example(cls) -> ComposedOperator:
        return cls(PointwiseExp((6,)), LinearOperator.example())

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ComposedOperator:
        return cls(operator_from_config(cfg["outer"]), operator_from_config(cfg["inner"]))


@register_operator
class PointwiseExp(Operator):
    """``x -> exp(x)`` elementwise: turns an operator on positive parameters (conductivity)
    into one on unconstrained log-parameters, so unrolled iterates never leave the domain."""

    has_hvp = True

    def __init__(self, shape: tuple[int, ...]):
        self.in_shape = self.out_shape = tuple(shape)

    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        e = torch.exp(x)
        return e, e

    def _jvp(self, x: Tensor, e: Tensor, v: Tensor) -> Tensor:
        return e * v

    def _vjp(self, x: Tensor, e: Tensor, w: Tensor) -> Tensor:
        return e * w

    def _hvp(self, x: Tensor, e: Tensor, w: Tensor, u: Tensor) -> Tensor:
        return e * w * u

    def jacobian(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return torch.diag_embed(torch.exp(x.detach()).reshape(x.shape[0], -1))

    def vjp_rows(self, x: Tensor, rows: Tensor) -> Tensor:
        """``rows @ diag(exp(x))``: each column scaled, no dense Jacobian."""
        return rows * torch.exp(x.detach()).reshape(x.shape[0], 1, -1).to(rows.dtype)

    def config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "shape": list(self.in_shape)}

    @classmethod
    def example(cls) -> PointwiseExp:
        return cls((4,))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> PointwiseExp:
        return cls(tuple(cfg["shape"]))


def log_parametrized(op: Operator) -> ComposedOperator:
    """``s -> op(exp(s))``: the operator on log-parameters (e.g. log-conductivity)."""
    return ComposedOperator(op, PointwiseExp(op.in_shape))


def operator_parts(op: Operator):
    """``op`` and, depth first, every operator a composition of it is made of."""
    yield op
    for part in (getattr(op, "outer", None), getattr(op, "inner", None)):
        if isinstance(part, Operator):
            yield from operator_parts(part)

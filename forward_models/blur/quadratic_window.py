"""The RMA paper's 1-D quadratic-window blur (Zhou, Qian, Tang, Li 2024, Sec. 4.1).

    y_i = a * w_i^T W1 w_i + W2^T w_i,     w_i = x[s_i : s_i + window],  s_i = i * stride

With the defaults (n=53, window=9, stride=4) the windows are centred at 4, 8, ..., 48 and
y has 12 entries.  W1 is upper-triangular with |U(0,1)| entries and W2 has |N(0,1)| entries,
each normalised to sum 1.  The Jacobian row of window i is ``a (W1 + W1^T) w_i + W2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from forward_models.blur.config_check import config_array, config_value
from invtools.operators import Operator, register_operator

Tensor = torch.Tensor


def random_window_weights(window: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W1, W2)`` as in the paper: W1 (window, window) upper-triangular, W2 (window,), each sums to 1."""
    rng = np.random.default_rng(seed)
    W1 = np.triu(np.abs(rng.uniform(0.0, 1.0, size=(window, window))))
    W2 = np.abs(rng.standard_normal(window))
    return W1 / W1.sum(), W2 / W2.sum()


@register_operator
class QuadraticWindowBlur(Operator):
    """Nonlinear 1-D blur ``R^n -> R^m`` with ``m = (n - window) // stride + 1``.

    Args:
        n: signal length.
        window: taps per window.
        stride: distance between window starts.
        a: nonlinearity (``a = 0`` is the linear blur ``W2``).
        seed: seeds ``W1``/``W2`` when they are not given.
        W1, W2: explicit weights (``(window, window)`` and ``(window,)``).
    """

    has_hvp = True

    def __init__(self, n: int = 53, window: int = 9, stride: int = 4, a: float = 1.0,
                 seed: int = 0, W1: np.ndarray | None = None, W2: np.ndarray | None = None):
        if not (0 < window <= n and stride > 0):
            raise ValueError(f"need 0 < window <= n and stride > 0, got n={n}, window={window}, "
                             f"stride={stride}")
        if a < 0:
            raise ValueError(f"nonlinearity a must be >= 0, got {a}")
        if W1 is None or W2 is None:
            W1, W2 = random_window_weights(window, seed)
        W1, W2 = np.asarray(W1, dtype=np.float64), np.asarray(W2, dtype=np.float64)
        if W1.shape != (window, window) or W2.shape != (window,):
            raise ValueError(f"W1 must be ({window}, {window}) and W2 ({window},), "
                             f"got {W1.shape} and {W2.shape}")
        self.n, self.window, self.stride, self.a, self.seed = n, window, stride, float(a), seed
        self.W1, self.W2 = W1, W2
        self.m = (n - window) // stride + 1
        self.in_shape, self.out_shape = (n,), (self.m,)
        self._cache: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}

    def _params(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(S = W1 + W1^T, W2, flat window index)`` on ``like``'s device and dtype."""
        key = (like.device, like.dtype)
        if key not in self._cache:
            S = torch.as_tensor(self.W1 + self.W1.T, dtype=like.dtype, device=like.device)
            W2 = torch.as_tensor(self.W2, dtype=like.dtype, device=like.device)
            starts = torch.arange(self.m, device=like.device) * self.stride
            index = (starts[:, None] + torch.arange(self.window, device=like.device)).reshape(-1)
            self._cache[key] = (S, W2, index)
        return self._cache[key]

    def _windows(self, x: Tensor) -> Tensor:
        return x.unfold(1, self.window, self.stride)  # (B, m, window)

    def _scatter(self, per_window: Tensor, like: Tensor) -> Tensor:
        """Adjoint of ``_windows``: add ``(B, m, window)`` contributions into ``(B, n)``."""
        _, _, index = self._params(like)
        out = torch.zeros(like.shape[0], self.n, dtype=like.dtype, device=like.device)
        return out.index_add_(1, index, per_window.reshape(like.shape[0], -1))

    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        S, W2, _ = self._params(x)
        win = self._windows(x)
        # w^T W1 w = 0.5 w^T S w
        y = 0.5 * self.a * torch.einsum("bmi,ij,bmj->bm", win, S, win) + win @ W2
        return y, win

    def _jvp(self, x: Tensor, win: Tensor, v: Tensor) -> Tensor:
        S, W2, _ = self._params(x)
        vw = self._windows(v)
        return self.a * torch.einsum("bmi,ij,bmj->bm", win, S, vw) + vw @ W2

    def _vjp(self, x: Tensor, win: Tensor, w: Tensor) -> Tensor:
        S, W2, _ = self._params(x)
        rows = self.a * win @ S + W2  # (B, m, window): the Jacobian rows
        return self._scatter(w[..., None] * rows, x)

    def _hvp(self, x: Tensor, win: Tensor, w: Tensor, u: Tensor) -> Tensor:
        S, _, _ = self._params(x)
        return self._scatter(w[..., None] * (self.a * self._windows(u) @ S), x)

    def jacobian(self, x: Tensor) -> Tensor:
        """Exact ``(B, m, n)`` Jacobian: row i holds ``a (W1 + W1^T) w_i + W2`` on window i."""
        self.check_input(x)
        S, W2, index = self._params(x)
        rows = self.a * self._windows(x.detach()) @ S + W2
        J = torch.zeros(x.shape[0], self.m, self.n, dtype=x.dtype, device=x.device)
        return J.scatter_(2, index.reshape(self.m, self.window).expand(x.shape[0], -1, -1), rows)

    def config(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "n": self.n, "window": self.window,
                "stride": self.stride, "a": self.a, "seed": self.seed,
                "W1": self.W1.tolist(), "W2": self.W2.tolist()}

    @classmethod
    def example(cls) -> QuadraticWindowBlur:
        return cls(a=2.0)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> QuadraticWindowBlur:
        window = config_value(cfg, "window", int, 1)
        return cls(n=config_value(cfg, "n", int, 1), window=window,
                   stride=config_value(cfg, "stride", int, 1), a=config_value(cfg, "a", float, 0),
                   seed=config_value(cfg, "seed", int, 0, default=0),
                   W1=config_array(cfg, "W1", (window, window)), W2=config_array(cfg, "W2", (window,)))

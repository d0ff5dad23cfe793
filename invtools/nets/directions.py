"""Direction modules: turn the data-fit gradient g_k into the direction input d_k of step k.

Every module maps ``(g, state)`` to ``(d, state)`` with ``g`` of shape (B, *S), ``d`` of shape
(B, channels, *S) (``channels`` is a module attribute, 1 unless stated) and ``state``
carried from step to step (None at k = 0), so a T-step unroll costs O(T), never O(T^2).
All work with any batch size and on CUDA.

- ``none``:      d_k = g_k.
- ``momentum``:  v_k = beta v_{k-1} + eta g_k (fixed beta, eta), d_k = v_k.
- ``rma``:       m_k = FC(LSTM(g_1, ..., g_k)), a dense LSTM over the flattened gradient
                 (recurrent momentum acceleration, Zhou et al. 2024); forget-gate bias 1.
                 Options: ``residual`` (d_k = g_k + m_k, read-out zero at start),
                 ``with_gradient`` (d_k = [g_k, m_k], two channels: m_k beside g_k instead of
                 in its place) and ``dropout`` (on the LSTM's inputs and read-out, not on its
                 recurrent state; training only).
- ``conv_rma``:  a convolutional LSTM (1-D, 2-D or mesh graph convolutions), for images and
                 meshes where a dense LSTM over all pixels does not scale.
"""

from __future__ import annotations

import math

import scipy.sparse as sp
import torch
from torch import nn

from invtools.nets.blocks import spatial_conv

Tensor = torch.Tensor


class PlainGradient(nn.Module):
    """The ``none`` direction: d_k = g_k, the gradient (B, *S) as one channel (B, 1, *S);
    no state (always None)."""

    channels = 1

    def forward(self, g: Tensor, state=None):
        return g.unsqueeze(1), None


class Momentum(nn.Module):
    """Heavy-ball momentum with fixed ``beta`` and ``eta``: v_k = beta v_{k-1} + eta g_k
    (v_0 = eta g_0), d_k = v_k as one channel (B, 1, *S); the state is v_k (B, *S)."""

    channels = 1

    def __init__(self, beta: float = 0.9, eta: float = 1.0):
        super().__init__()
        self.beta, self.eta = beta, eta

    def forward(self, g: Tensor, state: Tensor | None = None):
        v = self.eta * g if state is None else self.beta * state + self.eta * g
        return v.unsqueeze(1), v


def _forget_bias_one(cell: nn.LSTMCell) -> None:
    """Set the forget-gate bias to 1 (gate order i, f, g, o)."""
    h = cell.hidden_size
    with torch.no_grad():
        cell.bias_ih[h:2 * h].fill_(1.0)
        cell.bias_hh[h:2 * h].fill_(0.0)


class RecurrentMomentum(nn.Module):
    """Dense LSTM (``layers`` x ``hidden``) over flattened gradients, FC back to the sample.

    ``residual=True`` returns ``g_k + FC(h_k)`` with the read-out initialised to zero: the
    module starts as the plain gradient and learns a momentum correction to it.
    ``with_gradient=True`` returns the two channels ``[g_k, FC(h_k)]``.
    ``dropout`` p drops the inputs of every LSTM layer and of the read-out during training
    (Zaremba et al. 2014: never the recurrent connections, so the memory is kept).
    """

    def __init__(self, shape: tuple[int, ...], hidden: int = 128, layers: int = 1,
                 residual: bool = False, with_gradient: bool = False, dropout: float = 0.0):
        super().__init__()
        if residual and with_gradient:
            raise ValueError("choose one of residual and with_gradient")
        self.shape, n = shape, math.prod(shape)
        self.residual, self.with_gradient = residual, with_gradient
        self.channels = 2 if with_gradient else 1
        self.cells = nn.ModuleList(nn.LSTMCell(n if i == 0 else hidden, hidden)
                                   for i in range(layers))
        for cell in self.cells:
            _forget_bias_one(cell)
        self.fc = nn.Linear(hidden, n)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if residual:
            nn.init.zeros_(self.fc.weight)
            nn.init.zeros_(self.fc.bias)

    def forward(self, g: Tensor, state: list[tuple[Tensor, Tensor]] | None = None):
        inp = g.reshape(g.shape[0], -1)
        new_state = []
        for i, cell in enumerate(self.cells):
            h, c = cell(self.dropout(inp), None if state is None else state[i])
            new_state.append((h, c))
            inp = h
        m = self.fc(self.dropout(inp)).reshape(g.shape[0], 1, *self.shape)
        if self.with_gradient:
            return torch.cat([g.unsqueeze(1), m], dim=1), new_state
        return (g.unsqueeze(1) + m if self.residual else m), new_state


class ConvLSTMCell(nn.Module):
    """LSTM whose gates are spatial convolutions of [input, hidden]."""

    def __init__(self, kind: str, in_ch: int, hidden: int, adjacency: sp.spmatrix | None):
        super().__init__()
        self.hidden = hidden
        self.gates = spatial_conv(kind, in_ch + hidden, 4 * hidden, adjacency)
        bias = next(b for n, b in self.gates.named_parameters() if n.endswith("bias"))
        with torch.no_grad():
            bias[hidden:2 * hidden].fill_(1.0)  # forget gate

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None):
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class ConvRecurrentMomentum(nn.Module):
    """Convolutional LSTM over the gradient field, 1x1-conv read-out."""

    channels = 1

    def __init__(self, kind: str, hidden: int = 16, adjacency: sp.spmatrix | None = None):
        super().__init__()
        self.cell = ConvLSTMCell(kind, 1, hidden, adjacency)
        self.readout = spatial_conv(kind, hidden, 1, adjacency, kernel=1)

    def forward(self, g: Tensor, state=None):
        h, state = self.cell(g.unsqueeze(1), state)
        return self.readout(h), state


DIRECTIONS = ("none", "momentum", "rma", "conv_rma")


def direction_channels(name: str, kwargs: dict | None = None) -> int:
    """Channels of the direction input d_k that the module ``name`` produces (without building
    it, so the nets' random initialisation does not depend on it)."""
    return 2 if name == "rma" and (kwargs or {}).get("with_gradient") else 1


def make_direction(name: str, shape: tuple[int, ...], kind: str,
                   adjacency: sp.spmatrix | None = None, **kwargs) -> nn.Module:
    """Build a direction module by name (see the module docstring)."""
    if name == "none":
        return PlainGradient()
    if name == "momentum":
        return Momentum(**kwargs)
    if name == "rma":
        return RecurrentMomentum(shape, **kwargs)
    if name == "conv_rma":
        return ConvRecurrentMomentum(kind, adjacency=adjacency, **kwargs)
    raise ValueError(f"unknown direction module {name!r}; choose from {DIRECTIONS}")

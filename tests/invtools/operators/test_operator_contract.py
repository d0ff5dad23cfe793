"""One contract, every registered operator (deepinv's habit): derivatives, config round trip,
batching, dtype and device. A new forward model is tested by registering it, nothing more."""

import json

import pytest
import torch

from invtools import Operator, check_operator, operator_from_config, register_operator
from invtools.operators import registered_operators


@register_operator
class SquareThenSum(Operator):
    """A third-party forward model in 20 lines: y_i = x_i^2 + x_{i+1} (x in R^n, y in R^{n-1}).
    A package would declare it as an entry point in group "invtools.operators" instead of
    calling register_operator (see invtools/operators/plugins.py)."""

    def __init__(self, n: int = 5):
        self.n, self.in_shape, self.out_shape = n, (n,), (n - 1,)

    def _forward(self, x):
        return x[:, :-1] ** 2 + x[:, 1:], x

    def _jvp(self, x, state, v):
        return 2 * x[:, :-1] * v[:, :-1] + v[:, 1:]

    def _vjp(self, x, state, w):
        return torch.nn.functional.pad(2 * x[:, :-1] * w, (0, 1)) + torch.nn.functional.pad(w, (1, 0))

    def config(self):
        return {"type": "SquareThenSum", "n": self.n}

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg["n"])

    @classmethod
    def example(cls):
        return cls(5)


KINDS = sorted(registered_operators())
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_the_built_in_operators_are_found_through_their_entry_points():
    assert {"CEMForward", "PixelCEMForward", "QuadraticWindowBlur", "ImageBlur2D", "LinearOperator",
            "ComposedOperator", "PointwiseExp", "SquareThenSum"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_derivatives(kind):
    op = registered_operators()[kind].example()
    assert check_operator(op, op.example_input(2)).passed


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    op = registered_operators()[kind].example()
    again = operator_from_config(json.loads(json.dumps(op.config())))
    assert type(again) is type(op) and again.config() == op.config()
    x = op.example_input(2)
    torch.testing.assert_close(again(x), op(x), rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_batching_is_per_sample(kind):
    op = registered_operators()[kind].example()
    x = op.example_input(3, seed=1)
    y = op(x)
    assert y.shape == (3, *op.out_shape)
    for b in range(3):
        torch.testing.assert_close(op(x[b:b + 1])[0], y[b], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", KINDS)
def test_dtype_and_device_follow_the_input(kind, device):
    op = registered_operators()[kind].example()
    x64 = op.example_input(2, seed=2)
    x32 = x64.to(device, torch.float32).requires_grad_()
    y32 = op(x32)
    assert y32.dtype == torch.float32 and y32.device == x32.device
    torch.testing.assert_close(y32.double().cpu(), op(x64), rtol=1e-4, atol=1e-5)
    y32.sum().backward()
    assert x32.grad.dtype == torch.float32 and x32.grad.device == x32.device

"""Our layers against cvxpylayers/diffcp, an independent implementation, from a stored reference
(make_cvxpylayers_reference.py wrote it; CI does not need cvxpy): the QP's implicit gradient, and
the LP's LPGD gradients (right, left, centred) at a tau large enough to move between vertices."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from qp_problems import LP_TAU, active_qp, lp

from invtools.solver_layers import ClarabelQP, HighsLP, OptLayer

REF = json.loads(Path(__file__).with_name("cvxpylayers_reference.json").read_text())


def layer_grads(layer, args, g):
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    x = layer(*ts)
    (x * torch.as_tensor(g)).sum().backward()
    return x.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("backward", ["implicit", "lpgd"])
def test_qp_gradients_match_cvxpylayers(backward):
    P, A, G, q, b, h = active_qp(seed=3)
    ref = REF["qp"]
    kw = {"tau": 1e-4, "variant": "centered"} if backward == "lpgd" else {}
    x, grads = layer_grads(OptLayer(ClarabelQP(), P=P, A=A, G=G, backward=backward, **kw), (q, b, h),
                           np.array(ref["g"])[None])
    # cvxpylayers' solution is accurate to about 5e-5 (ours is the problem's KKT point to 1e-7)
    np.testing.assert_allclose(x[0], ref["x"], atol=1e-4)
    for ours, name in zip(grads, ("dq", "db", "dh"), strict=True):
        np.testing.assert_allclose(ours[0], ref[name], atol=1e-4, err_msg=name)


@pytest.mark.parametrize("variant", ["right", "left", "centered"])
def test_lp_lpgd_gradients_match_diffcp(variant):
    G, h, q = lp(seed=0)
    ref = REF["lp"]
    layer = OptLayer(HighsLP(), G=G, tau=LP_TAU, variant=variant)
    x, (dq,) = layer_grads(lambda qq: layer(qq, None, torch.tensor(h)), (q,), np.array(ref["g"]))
    np.testing.assert_allclose(x, ref[variant]["x"], atol=1e-6)
    np.testing.assert_allclose(dq, ref[variant]["dq"], atol=1e-5)
    assert np.abs(dq).max() > 0.1  # informative where the implicit gradient of an LP is zero

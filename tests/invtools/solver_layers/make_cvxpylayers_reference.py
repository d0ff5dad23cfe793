"""Write ``cvxpylayers_reference.json``: gradients of the test problems by cvxpylayers/diffcp, an
implementation independent of ours, for test_cvxpylayers_reference.py to compare with in CI
(which installs neither).

    pip install cvxpylayers   # Python >= 3.11
    python tests/invtools/solver_layers/make_cvxpylayers_reference.py

QP (active_qp(seed=3)): cvxpylayers' implicit differentiation (Clarabel). LP (lp(seed=0)): diffcp's
LPGD modes (lpgd_right, lpgd_left, lpgd = centred) at tau = 0.5, rho = 0.
"""

import json
from importlib.metadata import version
from pathlib import Path

import cvxpy as cp
import numpy as np
import torch
from cvxpylayers.torch import CvxpyLayer
from qp_problems import LP_TAU, active_qp, lp

OUT = Path(__file__).with_name("cvxpylayers_reference.json")


def qp_reference() -> dict:
    P, A, G, q, b, h = active_qp(seed=3)
    n = q.shape[1]
    x = cp.Variable(n)
    qp, bp, hp = cp.Parameter(n), cp.Parameter(2), cp.Parameter(4)
    prob = cp.Problem(cp.Minimize(0.5 * cp.quad_form(x, cp.psd_wrap(P)) + qp @ x), [A @ x == bp, G @ x <= hp])
    layer = CvxpyLayer(prob, parameters=[qp, bp, hp], variables=[x], solver_args={"solve_method": "Clarabel"})
    g = np.random.default_rng(2).standard_normal(q.shape)
    ts = [torch.tensor(a[0], requires_grad=True) for a in (q, b, h)]
    (sol,) = layer(*ts)
    (sol * torch.as_tensor(g[0])).sum().backward()
    return {"g": g[0].tolist(), "x": sol.detach().numpy().tolist(),
            "dq": ts[0].grad.numpy().tolist(), "db": ts[1].grad.numpy().tolist(),
            "dh": ts[2].grad.numpy().tolist()}


def lp_reference() -> dict:
    G, h, q = lp(seed=0)
    n = q.shape[1]
    g = np.random.default_rng(5).standard_normal(q.shape)
    x = cp.Variable(n)
    qp = cp.Parameter(n)
    prob = cp.Problem(cp.Minimize(qp @ x), [G @ x <= h[0]])
    out = {"g": g.tolist()}
    for mode, variant in (("lpgd_right", "right"), ("lpgd_left", "left"), ("lpgd", "centered")):
        layer = CvxpyLayer(prob, parameters=[qp], variables=[x],
                           solver_args={"solve_method": "Clarabel", "mode": mode,
                                        "derivative_kwargs": {"tau": LP_TAU, "rho": 0.0}})
        qt = torch.tensor(q, requires_grad=True)
        (sol,) = layer(qt)
        (sol * torch.as_tensor(g)).sum().backward()
        out[variant] = {"x": sol.detach().numpy().tolist(), "dq": qt.grad.numpy().tolist()}
    return out


if __name__ == "__main__":
    ref = {"versions": {p: version(p) for p in ("cvxpy", "cvxpylayers", "diffcp")},
           "qp": qp_reference(), "lp": lp_reference()}
    OUT.write_text(json.dumps(ref, indent=1))
    print(f"wrote {OUT}")

import numpy as np
import torch

from forward_models.blur import QuadraticWindowBlur
from forward_models.eit import CEMForward, Electrodes
from invtools.classical import ClassicalConfig, gauss_newton, linearized_step
from invtools.data.phantoms import disc_phantom, random_walk_signals
from invtools.operators.composition import LinearOperator


def test_linear_well_posed_problem_is_solved_in_one_step():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((15, 10))
    op = LinearOperator(A, (10,), (15,))
    x = torch.as_tensor(rng.standard_normal((2, 10)))
    x_hat, _ = gauss_newton(op, op(x), torch.zeros_like(x), ClassicalConfig(prior="tikhonov", lam=1e-12))
    assert torch.allclose(x_hat, x, atol=1e-8)


def test_gauss_newton_decreases_the_objective_and_beats_the_start_on_blur():
    op = QuadraticWindowBlur(a=2.0, seed=0)
    rng = np.random.default_rng(0)
    x = torch.as_tensor(random_walk_signals(3, op.n, rng))
    y = op(x)
    y = y + 0.01 * y.pow(2).mean().sqrt() * torch.as_tensor(rng.standard_normal(tuple(y.shape)))
    x0 = torch.full_like(x, 0.5)
    x_hat, infos = gauss_newton(op, y, x0, ClassicalConfig(noise_level=0.01))
    for info in infos:
        assert all(b <= a for a, b in zip(info.objective, info.objective[1:], strict=False))
        assert len(info.objective) > 1
    assert torch.mean((x_hat - x) ** 2) < 0.2 * torch.mean((x0 - x) ** 2)


def test_difference_reconstruction_finds_a_small_inclusion():
    cem = CEMForward.on_disk(Electrodes.equally_spaced(16, 0.5, 0.01), 0.12)
    mid = cem.mesh.p[:, cem.mesh.t].mean(axis=1)
    background = torch.ones(1, cem.n_in, dtype=torch.float64)
    sigma = torch.as_tensor(disc_phantom(mid, [(0.4, 0.1, 0.25, 1.2)]))[None]
    dy = cem(sigma) - cem(background)
    dx, infos = linearized_step(cem, dy, background, ClassicalConfig(method="linearized"))
    truth = (sigma - background)[0].numpy()
    corr = np.corrcoef(dx[0].numpy(), truth)[0, 1]
    assert corr > 0.6, corr
    inside = truth > 0
    assert dx[0, inside].mean() > 3 * abs(dx[0, ~inside].mean())
    assert infos[0].lam > 0


def test_gauss_newton_on_log_conductivity_fits_to_the_noise_level(log_eit):
    op, s, y, noise = log_eit
    s_hat, _ = gauss_newton(op, y + noise, torch.zeros_like(s), ClassicalConfig(noise_level=0.01))
    residual = torch.linalg.norm(op(s_hat) - y - noise)
    assert residual < 1.5 * torch.linalg.norm(noise)
    assert torch.linalg.norm(s_hat - s) < 0.8 * torch.linalg.norm(s)


def test_fixed_weight_linearised_step_is_the_per_sample_step():
    """One matrix for a batch sharing its start (fixed weight) = the per-sample solution."""
    op = QuadraticWindowBlur(a=1.0, seed=0)
    rng = np.random.default_rng(3)
    x_ref = torch.full((4, op.n), 0.3, dtype=torch.float64)
    dy = torch.as_tensor(rng.standard_normal((4, op.m)))
    cfg = ClassicalConfig(method="linearized", lam=1e-2)
    fast, _ = linearized_step(op, dy, x_ref, cfg)
    x_ref[3, 0] += 1e-9  # different starts: the per-sample path
    slow, _ = linearized_step(op, dy, x_ref, cfg)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-8)
    step, _ = gauss_newton(op, op(x_ref[:1]) + dy[:1], x_ref[:1], cfg)  # one GN step, same thing
    torch.testing.assert_close(step - x_ref[:1], fast[:1], rtol=1e-6, atol=1e-8)


def test_tv_prior_keeps_edges_that_the_smoothness_prior_blurs():
    """A blocky signal behind a smoothing linear map: with each prior's best weight, TV recovers
    it better than the Laplacian; its objective falls monotonically (IRLS steps)."""
    rng = np.random.default_rng(0)
    n = 60
    truth = np.repeat(rng.choice([0.0, 1.0, 2.0], 6), 10)
    t = np.arange(n)
    A = np.exp(-0.5 * ((t[:, None] - t[None, :]) / 2.5) ** 2)[::2]
    op = LinearOperator(A, (n,), (A.shape[0],))
    y = torch.as_tensor(A @ truth + 0.02 * rng.standard_normal(A.shape[0]))[None]
    x0 = torch.zeros(1, n, dtype=torch.float64)
    best = {}
    for prior, lams in (("laplacian", (1e-3, 1e-2, 1e-1, 1.0)), ("tv", (1e-3, 1e-2, 1e-1))):
        errors = []
        for lam in lams:
            x, infos = gauss_newton(op, y, x0, ClassicalConfig(prior=prior, lam=lam, iterations=30))
            objective = infos[0].objective
            assert all(b <= a for a, b in zip(objective, objective[1:], strict=False))
            errors.append(float(np.linalg.norm(x[0].numpy() - truth)))
        best[prior] = min(errors)
    assert best["tv"] < 0.7 * best["laplacian"]

"""Reconstruction metrics, per sample: PSNR, SSIM (signals, images, meshes), relative error,
dynamic range.  Inputs are batches (B, *S); outputs are (B,) tensors."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def data_range(ref: Tensor) -> Tensor:
    """Per-sample max - min of the reference (B,)."""
    r = _flat(ref)
    return (r.max(dim=1).values - r.min(dim=1).values).clamp_min(1e-12)


def psnr(x: Tensor, ref: Tensor, value_range: Tensor | float | None = None) -> Tensor:
    """``10 log10(range^2 / MSE)`` in dB; range defaults to the reference's max - min."""
    rng = data_range(ref) if value_range is None else torch.as_tensor(value_range).to(x)
    mse = _flat(x - ref).pow(2).mean(dim=1).clamp_min(1e-20)
    return 10 * torch.log10(rng**2 / mse)


def relative_error(x: Tensor, ref: Tensor) -> Tensor:
    """``||x - ref|| / ||ref||``."""
    return _flat(x - ref).norm(dim=1) / _flat(ref).norm(dim=1).clamp_min(1e-12)


def dynamic_range(x: Tensor, ref: Tensor) -> Tensor:
    """``(max x - min x) / (max ref - min ref)`` in percent (100 = contrast fully recovered)."""
    return 100 * data_range(x) / data_range(ref)


def _gaussian_window(size: int, sigma: float, dims: int, like: Tensor) -> Tensor:
    t = torch.arange(size, dtype=like.dtype, device=like.device) - size // 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return g if dims == 1 else g[:, None] * g[None, :]


def _ssim_from_moments(mx, my, vx, vy, cxy, rng) -> Tensor:
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


def ssim(x: Tensor, ref: Tensor, window: int = 7, sigma: float = 1.5) -> Tensor:
    """Structural similarity of 1-D signals (B, n) or images (B, H, W), Gaussian window,
    'valid' region, range from the reference."""
    dims = x.dim() - 1
    if dims not in (1, 2):
        raise ValueError(f"ssim needs (B, n) or (B, H, W), got {tuple(x.shape)}")
    w = _gaussian_window(window, sigma, dims, x)[None, None]
    conv = F.conv1d if dims == 1 else F.conv2d

    def filt(t: Tensor) -> Tensor:
        return conv(t.unsqueeze(1), w)

    rng = data_range(ref).reshape(-1, *([1] * (dims + 1)))
    mx, my = filt(x), filt(ref)
    vx, vy = filt(x * x) - mx**2, filt(ref * ref) - my**2
    cxy = filt(x * ref) - mx * my
    return _flat(_ssim_from_moments(mx, my, vx, vy, cxy, rng)).mean(dim=1)


def mesh_ssim(x: Tensor, ref: Tensor, adjacency: sp.spmatrix) -> Tensor:
    """SSIM on element vectors (B, ne): local moments over each element and its neighbours
    (equal weights on the element and the mean of its edge neighbours)."""
    n = adjacency.shape[0]
    W = 0.5 * (sp.eye(n) + sp.csr_matrix(adjacency))
    c = sp.coo_matrix(W)
    Wt = torch.sparse_coo_tensor(torch.as_tensor(np.stack([c.row, c.col])), torch.as_tensor(c.data),
                                 (n, n), check_invariants=False).to(dtype=x.dtype, device=x.device)

    def filt(t: Tensor) -> Tensor:
        return torch.sparse.mm(Wt, t.T).T

    rng = data_range(ref)[:, None]
    mx, my = filt(x), filt(ref)
    vx, vy = filt(x * x) - mx**2, filt(ref * ref) - my**2
    cxy = filt(x * ref) - mx * my
    return _ssim_from_moments(mx, my, vx, vy, cxy, rng).mean(dim=1)


def total_variation(x: Tensor, adjacency: sp.spmatrix | None = None) -> Tensor:
    """Mean absolute difference between neighbours: along signals (B, n), images (B, H, W), or
    across mesh edges (B, ne) when ``adjacency`` is given.  Scalar."""
    if adjacency is not None:
        c = sp.triu(sp.coo_matrix(adjacency), k=1).tocoo()
        return (x[:, c.row] - x[:, c.col]).abs().mean()
    if x.dim() == 2:
        return (x[:, 1:] - x[:, :-1]).abs().mean()
    return 0.5 * ((x[:, 1:] - x[:, :-1]).abs().mean() + (x[:, :, 1:] - x[:, :, :-1]).abs().mean())


def summarize(x: Tensor, ref: Tensor, adjacency: sp.spmatrix | None = None) -> dict[str, float]:
    """Mean MSE, PSNR, SSIM (signal/image or mesh), relative error and dynamic range."""
    x, ref = x.detach().double(), ref.detach().double()
    out = {"mse": float(_flat(x - ref).pow(2).mean()), "psnr": float(psnr(x, ref).mean()),
           "relative_error": float(relative_error(x, ref).mean()),
           "dynamic_range": float(dynamic_range(x, ref).mean())}
    if adjacency is not None:
        out["ssim"] = float(mesh_ssim(x, ref, adjacency).mean())
    elif x.dim() in (2, 3) and min(x.shape[1:]) >= 7:
        out["ssim"] = float(ssim(x, ref).mean())
    else:
        out["ssim"] = math.nan
    return out


# --- segmentations -------------------------------------------------------------------------------
def dice(pred: np.ndarray | Tensor, truth: np.ndarray | Tensor, cls: int) -> float:
    """Dice coefficient of class ``cls`` between two label arrays (1.0 when neither has it)."""
    p, t = np.asarray(pred) == cls, np.asarray(truth) == cls
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2 * (p & t).sum() / total)


def label_metrics(pred: np.ndarray | Tensor, truth: np.ndarray | Tensor, n_classes: int) -> dict[str, float]:
    """``label_error`` (fraction of entries labelled wrong) and ``dice_k`` per class, each the
    mean over the samples (first axis) of label arrays (B, ...)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    out = {"label_error": float((pred != truth).mean())}
    for k in range(n_classes):
        out[f"dice_{k}"] = float(np.mean([dice(p, t, k) for p, t in zip(pred, truth, strict=True)]))
    return out

"""The challenge score of one 256 x 256 label image: ``ktc_score`` (the Gaussian window as matrix
products) against the same SSIM by two 1-D convolutions per local moment (``scipy.ndimage``),
paired in one run, with their largest difference.

    python -m benchmarks.speed.ktc_score [--repeats 21]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from benchmarks._timing import median_time, paired_ratio, print_table
from invtools.analysis.segmentation import CONDUCTIVE, RESISTIVE, pixel_centres
from invtools.devices.ktc2023.score import KTC_SSIM_C1, KTC_SSIM_C2, ktc_score


def ssim_by_convolutions(truth: np.ndarray, reco: np.ndarray, r: float = 80.0) -> float:
    """The challenge's SSIM with each local moment smoothed by two ``convolve1d`` passes."""
    from scipy.ndimage import convolve1d

    half = math.ceil(2 * r)
    t = np.arange(-half, half + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * t**2 / r**2)

    def smooth(a):
        return convolve1d(convolve1d(a, kernel, axis=0, mode="constant"), kernel, axis=1, mode="constant")

    a, b = truth.astype(np.float64), reco.astype(np.float64)
    mass = smooth(np.ones_like(a))
    ma, mb = smooth(a) / mass, smooth(b) / mass
    va, vb = smooth(a * a) / mass - ma**2, smooth(b * b) / mass - mb**2
    cab = smooth(a * b) / mass - ma * mb
    c1, c2 = KTC_SSIM_C1, KTC_SSIM_C2
    return float(np.mean((2 * ma * mb + c1) * (2 * cab + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))))


def score_by_convolutions(truth: np.ndarray, reco: np.ndarray) -> float:
    return 0.5 * sum(ssim_by_convolutions(truth == c, reco == c) for c in (CONDUCTIVE, RESISTIVE))


def label_pairs(n: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """n (truth, reconstruction) pairs of random discs of both classes, the second one moved."""
    rng = np.random.default_rng(seed)
    x, y = pixel_centres(256, 0.115)
    pairs = []
    for _ in range(n):
        images = [np.zeros((256, 256), dtype=np.uint8) for _ in range(2)]
        for label in (RESISTIVE, CONDUCTIVE):
            cx, cy, rad = rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.01, 0.03)
            for k, img in enumerate(images):
                shift = 0.01 * k * rng.standard_normal(2)
                img[(x - cx - shift[0]) ** 2 + (y - cy - shift[1]) ** 2 < rad**2] = label
        pairs.append((images[0], images[1]))
    return pairs


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=21)
    args = p.parse_args(argv)
    pairs = label_pairs(8)
    gap = max(abs(ktc_score(a, b) - score_by_convolutions(a, b)) for a, b in pairs)
    a, b = pairs[0]

    def ours():
        ktc_score(a, b)

    def convolutions():
        score_by_convolutions(a, b)

    r = paired_ratio(convolutions, ours, repeats=args.repeats)
    t_ours, t_conv = (median_time(fn, 3, warmup=0) * 1e3 for fn in (ours, convolutions))
    print_table(["row", "ours", "reference", "ratio [95%]"],
                [["ktc_score, 256 x 256 / convolve1d", f"{t_ours:.1f} ms", f"{t_conv:.1f} ms",
                  f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]"]])
    print(f"largest |difference| of the score over {len(pairs)} label pairs: {gap:.1e}")


if __name__ == "__main__":
    main()

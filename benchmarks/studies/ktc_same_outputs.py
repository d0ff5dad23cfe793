"""The KTC2023 path's outputs, recorded and compared across a code change: every method on the
28 shared real cases (4 targets x 7 levels, against ``ref.mat``), by the public
:func:`invtools.workflow.reconstruct.reconstruct` and the ``--segment`` labels
(:func:`~invtools.workflow.reconstruct.result.label_images`).

    python -m benchmarks.studies.ktc_same_outputs --save before.npz      # on the old code
    python -m benchmarks.studies.ktc_same_outputs --against before.npz   # on the new code

Methods: ``gn``, ``linearized``, ``baseline`` and the shipped model (``--model ktc2023``) on all
28 cases; absolute ``gn`` (about 25 s a file) on target 1 at levels 1 and 7. Prints, per method,
the largest relative difference of the images (max |x - x_before| / max |x_before|), of sigma0,
and the labels that differ; exits 1 if an image or sigma0 differs by more than ``--rtol``
(default 1e-6) or a label differs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TARGETS, LEVELS = (1, 2, 3, 4), tuple(range(1, 8))
METHODS = ("gn", "linearized", "baseline", "model")
ABSOLUTE = ((1, 1), (1, 7))


def case_file(folder: Path, target: int, level: int) -> Path:
    name = f"data{target}.mat"
    return folder / name if level == 1 else folder / "levels" / f"level{level}" / name


def outputs(folder: Path, quick: bool = False) -> dict[str, np.ndarray]:
    """{"method/target/level/x" | ".../labels" | ".../sigma0": array} for every case."""
    from invtools.workflow.reconstruct import reconstruct
    from invtools.workflow.reconstruct.result import label_images

    out: dict[str, np.ndarray] = {}
    cases = [(t, lv) for t in TARGETS for lv in LEVELS]
    if quick:
        cases = [(1, 1), (1, 7)]
    for method in METHODS:
        t0 = time.perf_counter()
        for target, level in cases:
            path = case_file(folder, target, level)
            rec = (reconstruct(path, model="ktc2023") if method == "model"
                   else reconstruct(path, method=method))
            key = f"{method}/{target}/{level}"
            out[f"{key}/x"], out[f"{key}/labels"] = np.asarray(rec.x), label_images(rec)
            out[f"{key}/sigma0"] = np.asarray(rec.sigma0, dtype=np.float64)
        print(f"{method}: {len(cases)} cases in {time.perf_counter() - t0:.0f} s", flush=True)
    for target, level in ([] if quick else ABSOLUTE):
        rec = reconstruct(case_file(folder, target, level), method="gn", absolute=True)
        key = f"absolute/{target}/{level}"
        out[f"{key}/x"], out[f"{key}/labels"] = np.asarray(rec.x), label_images(rec)
        out[f"{key}/sigma0"] = np.asarray(rec.sigma0, dtype=np.float64)
    return out


def compare(now: dict[str, np.ndarray], before: dict[str, np.ndarray], rtol: float) -> bool:
    """Print the differences per method; True when all are within ``rtol`` and no label moved."""
    ok = True
    missing = sorted(set(before) ^ set(now))
    if missing:
        print(f"cases in one record only: {missing[:6]}")
        ok = False
    print(f"{'method':<11}{'cases':>6}{'images, max rel':>17}{'sigma0, max rel':>17}{'labels differing':>18}")
    for method in sorted({k.split('/')[0] for k in before}):
        keys = sorted({k.rsplit('/', 1)[0] for k in before if k.startswith(method + "/") and k in now})
        dx = max(float(np.max(np.abs(now[f"{k}/x"] - before[f"{k}/x"])) / np.max(np.abs(before[f"{k}/x"])))
                 for k in keys)
        ds = max(float(abs(now[f"{k}/sigma0"] - before[f"{k}/sigma0"]) / abs(before[f"{k}/sigma0"]))
                 for k in keys)
        dl = sum(int(np.sum(now[f"{k}/labels"] != before[f"{k}/labels"])) for k in keys)
        print(f"{method:<11}{len(keys):>6}{dx:>17.2e}{ds:>17.2e}{dl:>18d}")
        ok &= dx <= rtol and ds <= rtol and dl == 0
    print("same outputs" if ok else f"outputs differ (rtol {rtol:g})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ktc", default=str(ROOT.parent / "shared" / "ktc2023"), help="the KTC2023 files")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--save", help="write the outputs to this .npz")
    what.add_argument("--against", help="compare with the outputs in this .npz")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--quick", action="store_true", help="target 1 at levels 1 and 7, no absolute")
    args = parser.parse_args(argv)
    now = outputs(Path(args.ktc), args.quick)
    if args.save:
        np.savez_compressed(args.save, **now)
        print(f"wrote {args.save} ({len(now)} arrays)")
        return 0
    with np.load(args.against) as f:
        before = {k: f[k] for k in f.files}
    return 0 if compare(now, before, args.rtol) else 1


if __name__ == "__main__":
    sys.exit(main())

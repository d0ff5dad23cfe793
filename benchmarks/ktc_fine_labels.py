"""Labels learned at 256 x 256 for the KTC2023 tank (issue 27, item 4): does a net that learns
the fine labels beat the shipped model's 32 x 32 output cut by levels into 8-pixel blocks?

The shipped model stays as it is; a small fully convolutional refiner learns the labels from
its output: input log(sigma / sigma0) of the 32 x 32 image (rows flipped to the frame's order)
interpolated bilinearly to 128 x 128, the disk's indicator and the levels rule's two class
indicators on that interpolated image (so the refiner starts from what the shipped rule sees);
output three class logits at 128 x 128, interpolated bilinearly to the 256 x 256 frame;
cross-entropy against the exact fine truth (each phantom's draws replayed at the frame's pixel
centres, as benchmarks/ktc.py scores).

Training: the shipped model's predictions on the first N samples of its own training data
(seed 1, masked as the preset draws them; ``--train``), their fine truths replayed from
(seed 1, index). Held out: benchmarks/ktc.py's phantoms (seed 2) at every level and the
random-broken row, paired per phantom: refiner minus the shipped model + levels.

    invtools generate ktc2023 --out data/ktc_train800.h5 -n 800 --seed 1 --workers 2
    python benchmarks/ktc_fine_labels.py --train data/ktc_train800.h5 --samples 100 \\
        --json benchmarks/results/ktc_fine_labels.json

Settings (channels, 128 x 128, epochs, lr) were fixed before any score was seen.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from _timing import print_table  # noqa: E402
from ktc import LEVELS, complete_problem, interval, masks_of, training_masks, truth_labels  # noqa: E402

from invtools.analysis.metrics import ktc_score  # noqa: E402
from invtools.analysis.segmentation import (  # noqa: E402
    CALIBRATED_LEVEL,
    grid_to_pixels,
    pixel_centres,
    segment_conductivity,
)
from invtools.training.trained_model import load_model, resolve_model  # noqa: E402
from invtools.workflow.reconstruct.ktc2023 import predict_difference  # noqa: E402

MID = 128  # the refiner's working resolution


def refiner(channels: int = 16) -> torch.nn.Module:
    """Fully convolutional: (B, 4, 128, 128) -> class logits (B, 3, 128, 128)."""
    c = channels
    return torch.nn.Sequential(
        torch.nn.Conv2d(4, c, 5, padding=2), torch.nn.ReLU(),
        torch.nn.Conv2d(c, c, 5, padding=2), torch.nn.ReLU(),
        torch.nn.Conv2d(c, c, 3, padding=2, dilation=2), torch.nn.ReLU(),
        torch.nn.Conv2d(c, 3, 1))


def disk(n: int) -> np.ndarray:
    x, y = pixel_centres(n, 1.0)
    return x**2 + y**2 <= 1.0


def features(x: np.ndarray, sigma0: float) -> torch.Tensor:
    """Refiner input (B, 4, 128, 128) from model images x (B, 32, 32), S/m."""
    contrast = torch.as_tensor(np.log(np.maximum(x, 1e-6) / sigma0)[:, ::-1].copy(), dtype=torch.float32)
    up = F.interpolate(contrast[:, None], size=(MID, MID), mode="bilinear", align_corners=False)
    inside = torch.as_tensor(disk(MID), dtype=torch.float32).expand(len(x), 1, MID, MID)
    levels = [(up > CALIBRATED_LEVEL).float(), (up < -CALIBRATED_LEVEL).float()]  # the levels rule
    return torch.cat([up, inside, *levels], dim=1)


def fine_logits(net: torch.nn.Module, feats: torch.Tensor) -> torch.Tensor:
    return F.interpolate(net(feats), size=(256, 256), mode="bilinear", align_corners=False)


def refined_labels(net: torch.nn.Module, x: np.ndarray, sigma0: float) -> list[np.ndarray]:
    with torch.no_grad():
        labels = fine_logits(net, features(x, sigma0)).argmax(dim=1).numpy().astype(np.uint8)
    labels[:, ~disk(256)] = 0
    return list(labels)


def train(args, trained, problem, sigma0: float) -> tuple[torch.nn.Module, list[dict]]:
    with h5py.File(args.train) as f:
        y = f["y"][: args.n_train]
    t0 = time.perf_counter()
    x = np.concatenate([predict_difference(trained, torch.as_tensor(y[i:i + 64]), sigma0)
                        for i in range(0, len(y), 64)])
    truth = torch.as_tensor(np.stack([truth_labels(problem, 1, i) for i in range(len(y))]), dtype=torch.long)
    feats = features(x, sigma0)
    print(f"training inputs: {len(y)} samples in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    inside = torch.as_tensor(disk(256))
    torch.manual_seed(args.seed)
    net = refiner(args.channels)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    history = []
    for epoch in range(args.epochs):
        t0, total = time.perf_counter(), 0.0
        order = torch.randperm(len(y))
        for k in range(0, len(y), args.batch):
            idx = order[k:k + args.batch]
            logits = fine_logits(net, feats[idx])
            pixels = logits.permute(0, 2, 3, 1)[:, inside].reshape(-1, 3)
            loss = F.cross_entropy(pixels, truth[idx][:, inside].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        history.append({"epoch": epoch + 1, "loss": total / len(y), "seconds": time.perf_counter() - t0})
        print(f"epoch {epoch + 1}: cross-entropy {total / len(y):.4f} ({history[-1]['seconds']:.0f} s)",
              file=sys.stderr, flush=True)
    return net, history


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, help="the shipped model's training data (seed 1)")
    p.add_argument("--n-train", type=int, default=800)
    p.add_argument("--samples", type=int, default=100, help="held-out phantoms per row (seed 2)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(2)
    problem = complete_problem()
    sigma0 = float(problem.recipe.phantom["background"])
    trained = load_model(resolve_model("ktc2023"))
    net, history = train(args, trained, problem, sigma0)

    sample = problem.samples(np.arange(args.samples), 2)
    truth = [truth_labels(problem, 2, i) for i in range(args.samples)]
    masks = masks_of(problem, args.samples, training_masks(args.train))
    scores: dict[str, dict[str, list[float]]] = {"shipped + levels": {}, "shipped + refiner": {}}
    for row, mask in masks.items():
        ok = mask.sum(axis=1) >= trained.fewest_values()
        x = predict_difference(trained, torch.as_tensor(np.where(mask, sample["y"], np.nan)[ok]), sigma0)
        coarse = [segment_conductivity(grid_to_pixels(xi), sigma0, "levels") for xi in x]
        fine = refined_labels(net, x, sigma0)
        which = np.nonzero(ok)[0]
        for name, labels in (("shipped + levels", coarse), ("shipped + refiner", fine)):
            scores[name][row] = [ktc_score(truth[i], lab) for i, lab in zip(which, labels, strict=True)]
        print(f"done {row}", file=sys.stderr, flush=True)
    rows = []
    for row in [f"L{v}" for v in LEVELS] + ["broken"]:
        a, b = (np.array(scores[m][row]) for m in ("shipped + levels", "shipped + refiner"))
        mean, lo, hi = interval(b - a)
        rows.append([row, len(a), a.mean(), b.mean(), mean, f"[{lo:+.3f}, {hi:+.3f}]"])
    tot = [sum(np.mean(scores[m][f"L{v}"]) for v in LEVELS) for m in scores]
    rows.append(["total L1-L7", "", tot[0], tot[1], tot[1] - tot[0], ""])
    print_table(["row", "n", "shipped + levels", "shipped + refiner", "refiner - levels", "paired 95%"], rows)
    print(f"refiner: {sum(p.numel() for p in net.parameters())} weights, {args.epochs} epochs on "
          f"{args.n_train} samples, {sum(h['seconds'] for h in history):.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"scores": scores, "history": history, "args": vars(args)}))


if __name__ == "__main__":
    main()

"""Labels learned at 256 x 256 for the KTC2023 tank: does a net that learns
the fine labels beat the shipped model's 32 x 32 output cut by levels into 8-pixel blocks?

The shipped model stays as it is; a small fully convolutional refiner learns the labels from
its output: input log(sigma / sigma0) of the 32 x 32 image (rows flipped to the frame's order)
interpolated bilinearly to 128 x 128, the disk's indicator and the levels rule's two class
indicators on that interpolated image (so the refiner starts from what the shipped rule sees);
output three class logits at 128 x 128, interpolated bilinearly to the 256 x 256 frame;
cross-entropy against the exact fine truth (each phantom's draws replayed at the frame's pixel
centres, as benchmarks/studies/ktc.py scores).

Training: the shipped model's predictions on the first N samples of its own training data
(seed 1, masked as the preset draws them; ``--train``), their fine truths replayed from
(seed 1, index). Held out: benchmarks/studies/ktc.py's phantoms (seed 2) at every level and the
random-broken row, paired per phantom: refiner minus the shipped model + levels.

    invtools generate ktc2023 --out data/ktc_train800.h5 -n 800 --seed 1 --workers 2
    python -m benchmarks.studies.ktc_fine_labels --train data/ktc_train800.h5 --samples 100 \\
        --json benchmarks/results/ktc_fine_labels.json

Settings (channels, 128 x 128, epochs, lr) were fixed before any score was seen. ``--export``
writes the shipped model with the refiner (how ``invtools/models/ktc2023.pt`` got it).
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

from benchmarks._timing import print_table
from benchmarks.studies.ktc import LEVELS, complete_problem, interval, masks_of, training_masks, truth_labels
from invtools.analysis.segmentation import grid_to_pixels, inside_frame_disk, segment_conductivity
from invtools.devices.ktc2023.adapter import predict_difference
from invtools.devices.ktc2023.score import ktc_score
from invtools.nets.label_refiner import LabelRefiner, refiner_record
from invtools.training.checkpoint import load_checkpoint, save_checkpoint
from invtools.training.trained_model import load_model, resolve_model


def train(args, trained, problem, sigma0: float) -> tuple[torch.nn.Module, list[dict]]:
    with h5py.File(args.train) as f:
        y = f["y"][: args.n_train]
    t0 = time.perf_counter()
    x = np.concatenate([predict_difference(trained, torch.as_tensor(y[i:i + 64]), sigma0)
                        for i in range(0, len(y), 64)])
    truth = torch.as_tensor(np.stack([truth_labels(problem, 1, i) for i in range(len(y))]), dtype=torch.long)
    torch.manual_seed(args.seed)
    net = LabelRefiner(args.channels)
    feats = net.features(x, sigma0)
    print(f"training inputs: {len(y)} samples in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    inside = torch.as_tensor(inside_frame_disk(256))
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    history = []
    for epoch in range(args.epochs):
        t0, total = time.perf_counter(), 0.0
        order = torch.randperm(len(y))
        for k in range(0, len(y), args.batch):
            idx = order[k:k + args.batch]
            logits = net(feats[idx])
            pixels = logits.permute(0, 2, 3, 1)[:, inside].reshape(-1, 3)
            loss = F.cross_entropy(pixels, truth[idx][:, inside].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append({"epoch": epoch + 1, "loss": total / len(y), "seconds": time.perf_counter() - t0})
        print(f"epoch {epoch + 1}: cross-entropy {total / len(y):.4f} ({history[-1]['seconds']:.0f} s)",
              file=sys.stderr, flush=True)
    return net.eval(), history


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ktc2023", help="the tank model to refine (checkpoint or shipped name)")
    p.add_argument("--train", required=True, help="the model's training data (seed 1)")
    p.add_argument("--n-train", type=int, default=800)
    p.add_argument("--samples", type=int, default=100, help="held-out phantoms per row (seed 2)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    p.add_argument("--export", help="write the shipped model with this refiner here (a new file)")
    args = p.parse_args()
    torch.set_num_threads(2)
    problem = complete_problem()
    sigma0 = float(problem.recipe.phantom["background"])
    trained = load_model(resolve_model(args.model))
    net, history = train(args, trained, problem, sigma0)
    if args.export:
        if Path(args.export).exists():
            raise SystemExit(f"--export {args.export}: exists; give a new file")
        ckpt = load_checkpoint(resolve_model(args.model))
        ckpt["label_refiner"] = refiner_record(net)
        save_checkpoint(ckpt, args.export)
        print(f"wrote {args.export}", file=sys.stderr)
    if args.samples == 0:
        return

    sample = problem.samples(np.arange(args.samples), 2)
    truth = [truth_labels(problem, 2, i) for i in range(args.samples)]
    masks = masks_of(problem, args.samples, training_masks(args.train))
    scores: dict[str, dict[str, list[float]]] = {"shipped + levels": {}, "shipped + refiner": {}}
    fewest = trained.fewest_values()  # (draws masks: once)
    for row, mask in masks.items():
        ok = mask.sum(axis=1) >= fewest
        x = predict_difference(trained, torch.as_tensor(np.where(mask, sample["y"], np.nan)[ok]), sigma0)
        coarse = [segment_conductivity(grid_to_pixels(xi), sigma0, "levels") for xi in x]
        fine = list(net.labels(x, sigma0))
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

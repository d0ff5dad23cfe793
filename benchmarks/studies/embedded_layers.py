"""What an embedded labelling LP trained by LPGD buys: segmentation by one unrolled backbone with
different heads, same data, same budget, several seeds (mean ± std over seeds).

    python -m benchmarks.studies.embedded_layers --problem blur --seeds 0 1 2
    python -m benchmarks.studies.embedded_layers --problem tank --backbone runs/ktc-lpgd/best.pt --seeds 0 1 2

Problems: ``blur``, the three-level deblurring preset ``blur2d-levels`` (classes: 0, 0.5, 1);
``tank``, the simulated KTC2023 tank (preset ``ktc2023``, data/ktc_{train,val,test}.h5; classes
water, resistive, conductive at log 0.8, log 0.0158, log 15.8 S/m).

Protocol: an LPGD backbone is trained for the regression (MSE) first; for ``blur`` per seed
(``--pretrain-epochs``), for ``tank`` it is the given checkpoint
(benchmarks/studies/configs/train_ktc_lpgd.toml, shared by the seeds). Every method then starts
from that backbone and is fine-tuned end to end for the same ``--epochs`` on the same ``--train``
samples (the seed sets the order and the head's start), and is scored on the held-out test samples:

- ``LP + LPGD right/centred (tau)``: the labelling LP head (beta = ``--beta``), Hamming loss,
  LPGD backward with relative tau;
- ``LP + implicit``: the same head with the implicit (KKT) backward: the LP's derivative is zero,
  so nothing learns (the table shows the row equal to its start);
- ``LP + DBB (lambda)``: blackbox differentiation; for an LP with a loss on x only it is the
  same computation as LPGD right with tau = lambda;
- ``softmax + CE``: the same class scores relaxed by a softmax, cross-entropy loss, argmax;
- ``regression + Otsu`` / ``regression + levels``: the backbone fine-tuned on MSE, then
  three-class Otsu on its image (the organisers' rule: the most populous class is the
  background) or the nearest level.

Metrics: the KTC2023 segmentation score (mean over the two non-background classes of the SSIM of
the class indicators, 256 x 256: the tank's disk frame, or the blur images upsampled 8 x), Dice
of each class (native grid), and training seconds per epoch (validation included).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks._timing import print_table
from invtools.analysis.metrics import dice
from invtools.analysis.segmentation import grid_to_pixels, otsu_thresholds, segment_three_classes
from invtools.data import H5Dataset
from invtools.devices.ktc2023.score import ktc_score
from invtools.nets import build_net_from_config
from invtools.nets.output_layers import level_labels
from invtools.operators.geometry import input_adjacency
from invtools.support.atomic import atomic_path
from invtools.training.config import fit_backbone
from invtools.training.trainer import TrainConfig, Trainer

TANK_LEVELS = [float(np.log(0.8)), float(np.log(0.0158)), float(np.log(15.8))]
BLUR_LEVELS = [0.0, 0.5, 1.0]


def methods(taus: list[float], centred_tau: float) -> dict[str, dict]:
    """name -> (output layer config without levels, loss, post-hoc rule)."""
    lp = {"type": "labeling", "backward": "lpgd", "variant": "right"}
    out = {f"LP + LPGD right (tau {t:g})": {"layer": {**lp, "tau": t}, "loss": "hamming"} for t in taus}
    centred = {**lp, "variant": "centered", "tau": centred_tau}
    out[f"LP + LPGD centred (tau {centred_tau:g})"] = {"layer": centred, "loss": "hamming"}
    out["LP + implicit"] = {"layer": {**lp, "backward": "implicit"}, "loss": "hamming"}
    out[f"LP + DBB (lambda {centred_tau:g})"] = {"layer": {**lp, "backward": "dbb", "tau": centred_tau},
                                                  "loss": "hamming"}
    out["softmax + CE"] = {"layer": {"type": "softmax"}, "loss": "cross_entropy"}
    out["regression + Otsu"] = {"layer": None, "loss": "mse", "rule": "otsu"}
    out["regression + levels"] = {"layer": None, "loss": "mse", "rule": "levels"}
    return out


def frame(labels: np.ndarray, problem: str) -> np.ndarray:
    """A 32 x 32 label image in the 256 x 256 frame of the score."""
    if problem == "tank":
        return np.nan_to_num(grid_to_pixels(labels.astype(np.float64))).astype(np.uint8)
    return np.kron(labels, np.ones((8, 8), dtype=labels.dtype))


def otsu_labels(image: np.ndarray, problem: str) -> np.ndarray:
    """Three-class Otsu labels (256 frame) of an image in the net variable: for the tank the
    organisers' rule on sigma - sigma0 in the disk, else classes in increasing order."""
    if problem == "tank":
        return segment_three_classes(grid_to_pixels(np.exp(image)) - 0.8)
    if image.min() == image.max():
        return frame(np.zeros(image.shape, dtype=np.uint8), problem)
    return frame(np.digitize(image, otsu_thresholds(image, 3)).astype(np.uint8), problem)


def native(labels256: np.ndarray, problem: str) -> np.ndarray:
    """256-frame labels back on the 32 x 32 grid (the tank's rows grow with y)."""
    grid = labels256[4::8, 4::8]
    return grid[::-1] if problem == "tank" else grid


def score(pred256: np.ndarray, truth256: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> dict:
    out = {"score": float(np.mean([ktc_score(t, p) for p, t in zip(pred256, truth256, strict=True)]))}
    for k in range(3):
        out[f"dice_{k}"] = float(np.mean([dice(p, t, k) for p, t in zip(pred, truth, strict=True)]))
    return out


def evaluate(net, op, data: H5Dataset, problem: str, levels: list[float], rule: str | None) -> dict:
    items = [data[i] for i in range(len(data))]
    x, y, x0 = (torch.stack([it[k] for it in items]).float() for k in range(3))
    net.eval()
    with torch.no_grad():
        x_hat = torch.cat([net(y[i:i + 16], op, x0[i:i + 16]) for i in range(0, len(y), 16)]).double()
    truth = level_labels(x.double(), levels).numpy()
    truth256 = np.stack([frame(t, problem) for t in truth])
    if rule == "otsu":
        pred256 = np.stack([otsu_labels(im, problem) for im in x_hat.numpy()])
        pred = np.stack([native(p, problem) for p in pred256])
    else:
        pred = level_labels(x_hat, levels).numpy()
        pred256 = np.stack([frame(p, problem) for p in pred])
    return score(pred256, truth256, pred, truth)


def backbone_net(args, train: H5Dataset, val: H5Dataset, op, seed: int):
    """The regression backbone: the tank checkpoint, or an LPGD trained on MSE for this seed."""
    if args.problem == "tank":
        from invtools.training.trained_model import load_model

        return load_model(args.backbone).net
    torch.manual_seed(seed)
    net = build_net_from_config({"arch": "lpgd", "steps": args.steps, "hidden": args.hidden}, op.in_shape)
    cfg = TrainConfig(epochs=args.pretrain_epochs, batch_size=args.batch, lr=2e-3, seed=seed, device="cpu")
    Trainer(net, op, train, val, cfg, progress=False).fit()
    return net


def method_net(method: dict, backbone, levels: list[float], beta: float, op, adjacency):
    """The backbone's architecture and weights under the method's output layer (fresh)."""
    layer = method["layer"] and {**method["layer"], "levels": levels}
    if layer and layer["type"] == "labeling":
        layer["beta"] = beta
    arch = {k: v for k, v in backbone.arch.items() if k not in ("net", "in_shape", "output_layer")}
    net = build_net_from_config({"arch": "lpgd", **arch, "output_layer": layer}, op.in_shape,
                                adjacency=adjacency)
    fit_backbone(net, backbone.state_dict(), "the backbone")
    return net


def run(args) -> dict:
    blur = args.problem == "blur"
    levels = BLUR_LEVELS if blur else TANK_LEVELS
    work = Path(args.work)
    if blur:
        from invtools.data.generate import generate
        from invtools.data.recipes import load_recipe

        work.mkdir(parents=True, exist_ok=True)
        for name, n, seed in (("train", args.train, 10), ("val", args.val, 11), ("test", args.test, 12)):
            path = work / f"blur_{name}.h5"
            if not path.exists() or len(H5Dataset(path)) < n:
                generate(load_recipe("blur2d-levels"), path, n, seed=seed, progress=False, overwrite=True)
        paths = {k: work / f"blur_{k}.h5" for k in ("train", "val", "test")}
    else:
        paths = {k: Path(args.data) / f"ktc_{k}.h5" for k in ("train", "val", "test")}
    train = H5Dataset(paths["train"], indices=np.arange(args.train))
    val = H5Dataset(paths["val"], indices=np.arange(min(args.val, len(H5Dataset(paths["val"])))))
    test = H5Dataset(paths["test"], indices=np.arange(min(args.test, len(H5Dataset(paths["test"])))))
    op = train.operator()
    adjacency = input_adjacency(op)
    rows: dict[str, list[dict]] = {}
    for seed in args.seeds:
        t0 = time.perf_counter()
        backbone = backbone_net(args, train, val, op, seed)
        print(f"seed {seed}: backbone ready ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        for name, m in methods(args.taus, args.centred_tau).items():
            if any(word in name for word in args.skip):
                continue
            torch.manual_seed(seed)
            net = method_net(m, backbone, levels, args.beta, op, adjacency)
            start = evaluate(net, op, test, args.problem, levels, m.get("rule"))
            cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=args.lr, seed=seed,
                              loss=m["loss"], device="cpu", lr_schedule="constant")
            history = Trainer(net, op, train, val, cfg, progress=False).fit()
            result = evaluate(net, op, test, args.problem, levels, m.get("rule"))
            result.update(seconds_per_epoch=float(np.mean([h["seconds"] for h in history])),
                          start_score=start["score"], seed=seed)
            rows.setdefault(name, []).append(result)
            print(f"seed {seed} {name}: score {start['score']:.3f} -> {result['score']:.3f} "
                  f"({result['seconds_per_epoch']:.1f} s/epoch)", file=sys.stderr)
        if args.json:  # after every seed: a long run that is stopped keeps its finished seeds
            with atomic_path(Path(args.json)) as tmp:
                tmp.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    return rows


def table(rows: dict[str, list[dict]]) -> None:
    """Mean ± std over the seeds; then each method minus the post-hoc rules, paired by seed."""
    def ms(values):
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    out = []
    for name, rs in rows.items():
        out.append([name, ms([r["start_score"] for r in rs]), ms([r["score"] for r in rs]),
                    *(ms([r[f"dice_{k}"] for r in rs]) for k in range(3)),
                    f"{np.mean([r['seconds_per_epoch'] for r in rs]):.1f}"])
    print_table(["method", "score at start", "score", "Dice 0", "Dice 1", "Dice 2", "s/epoch"], out)
    baselines = [b for b in ("regression + Otsu", "regression + levels") if b in rows]
    print()
    print("Score minus the post-hoc rules', paired by seed (mean ± std over seeds)")
    print_table(["method", *(f"minus {b}" for b in baselines)],
                [[name, *(ms([r["score"] - q["score"] for r, q in zip(rs, rows[b], strict=True)])
                          for b in baselines)] for name, rs in rows.items()])


def timing(args) -> None:
    """Seconds per training batch of every method, on one seed's nets (for an idle machine:
    the study's own s/epoch include validation and whatever else ran beside it)."""
    blur = args.problem == "blur"
    levels = BLUR_LEVELS if blur else TANK_LEVELS
    data = Path(args.work) / "blur_train.h5" if blur else Path(args.data) / "ktc_train.h5"
    train = H5Dataset(data, indices=np.arange(args.batch * (args.timing_batches + 1)))
    op = train.operator()
    adjacency = input_adjacency(op)
    backbone = backbone_net(args, train, train, op, 0) if not blur else build_net_from_config(
        {"arch": "lpgd", "steps": args.steps, "hidden": args.hidden}, op.in_shape)
    rows = []
    for name, m in methods(args.taus, args.centred_tau).items():
        if any(word in name for word in args.skip):
            continue
        net = method_net(m, backbone, levels, args.beta, op, adjacency)
        config = TrainConfig(batch_size=args.batch, loss=m["loss"], device="cpu")
        trainer = Trainer(net, op, train, train, config, progress=False)
        batches = list(DataLoader(train, batch_size=args.batch))
        trainer.train_step(*batches[0])  # warm-up
        t0 = time.perf_counter()
        for batch in batches[1:]:
            trainer.train_step(*batch)
        rows.append([name, (time.perf_counter() - t0) / (len(batches) - 1)])
    print(f"Seconds per training batch of {args.batch} ({args.problem}, {torch.get_num_threads()} threads)")
    print_table(["method", "s / batch"], rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problem", choices=["blur", "tank"], required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--train", type=int, default=256, help="training samples (fine-tuning)")
    p.add_argument("--val", type=int, default=32)
    p.add_argument("--test", type=int, default=100)
    p.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs of every method")
    p.add_argument("--pretrain-epochs", type=int, default=8, help="blur: the backbone's MSE epochs")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--steps", type=int, default=5, help="blur backbone: unrolled steps")
    p.add_argument("--hidden", type=int, default=16, help="blur backbone: channels")
    p.add_argument("--beta", type=float, default=0.05, help="the LP's neighbour smoothness")
    p.add_argument("--taus", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    p.add_argument("--centred-tau", type=float, default=10.0)
    p.add_argument("--backbone", default="runs/ktc-lpgd/best.pt", help="tank: the regression checkpoint")
    p.add_argument("--data", default="data", help="tank: folder of ktc_{train,val,test}.h5")
    p.add_argument("--work", default="data/embedded", help="blur: where its data sets are made")
    p.add_argument("--skip", nargs="*", default=[], help="leave out methods whose name contains a word (DBB)")
    p.add_argument("--json", help="write the per-seed results here")
    p.add_argument("--from-json", nargs="+", help="print the tables of --json files instead of running")
    p.add_argument("--timing-batches", type=int, default=0,
                   help="only time this many training batches of every method (idle machine)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    if args.from_json:  # several files (e.g. seeds run in parallel processes): rows joined per method
        rows: dict[str, list[dict]] = {}
        for path in args.from_json:
            for name, rs in json.loads(Path(path).read_text())["rows"].items():
                rows.setdefault(name, []).extend(rs)
        table(rows)
        return
    if args.timing_batches:
        timing(args)
        return
    table(run(args))


if __name__ == "__main__":
    main()

"""The ``invtools`` command line: generate, merge, train, evaluate, reconstruct, demo.

Every command prints a one-line error and exits with status 1 on bad input (set
``INVTOOLS_DEBUG=1`` for the traceback); outputs are written atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from invtools.support.output_paths import check_outputs
from invtools.support.validation import fraction, nonnegative_int, positive_float, positive_int

EXAMPLES = {
    "generate": """examples:
  invtools generate --list
  invtools generate blur1d-rma --out data/blur_train.h5 -n 2000 --seed 0
  invtools generate eit-discs2 --out data/eit_test.h5 -n 200 --seed 1 --workers 2
  invtools generate datasets/my_recipe.toml --out shard0.h5 -n 100000 --seed 0 --shard 0/8
  invtools generate PRESET --out data/train.h5 -n 15000 --seed 1 --device cuda
re-running an interrupted command with the same arguments resumes it.""",
    "merge": """examples:
  invtools merge shard0.h5 shard1.h5 shard2.h5 --out all.h5""",
    "train": """examples:
  invtools train datasets/train_blur1d.toml
  invtools train datasets/train_blur1d.toml --resume
  torchrun --nproc_per_node 2 -m invtools.workflow.cli train datasets/train_eit.toml""",
    "evaluate": """examples:
  invtools evaluate --model runs/blur1d/best.pt --data data/blur_test.h5 --out runs/blur1d/eval""",
    "reconstruct": """examples:
  invtools reconstruct --model runs/eit/best.pt --measurements data/eit_test.h5 --out rec.h5 --plot rec.png
  invtools reconstruct --method gn --recipe blur1d-rma --measurements y.csv --out rec.h5
  invtools reconstruct --device NAME --method gn --measurements tank/data1.mat --out rec.h5 --plot rec.png
  invtools reconstruct --model MODEL --measurements tank/data1.mat --out rec.h5 --segment labels.png
  invtools reconstruct --device my_tank.toml --method gn --absolute --measurements m.mat --out rec.h5""",
    "demo": """examples:
  invtools demo --out demo_out
  invtools demo --out demo_out --overwrite       # replace the folder of an earlier run
  invtools demo --out demo_out --samples none    # without the real-data part
  invtools demo --out demo_out --samples FOLDER  # a shipped device's sample files in FOLDER""",
}


def _inputs_exist(named: dict[str, str | Path | None]) -> None:
    """A missing input, named before anything else (before an existing output is refused)."""
    for option, path in named.items():
        if path is not None and not Path(path).exists():
            raise FileNotFoundError(f"{option} {path}: no such file")


def _generate(args: argparse.Namespace) -> int:
    from invtools.data import generate, parse_shard
    from invtools.data.recipes import list_presets, load_recipe

    if args.list or args.recipe is None:
        if args.recipe is None and not args.list:
            raise ValueError("give a RECIPE (preset name or TOML file); --list shows the presets")
        for name in list_presets():
            print(f"{name:15s} {load_recipe(name).description}")
        return 0
    if args.out is None or args.n is None:
        raise ValueError("generate needs --out FILE.h5 and -n N")
    recipe_file = args.recipe if Path(args.recipe).suffix == ".toml" else None
    _inputs_exist({"RECIPE": recipe_file})
    check_outputs({"--out": args.out}, [recipe_file], overwrite=True)  # generate checks existing
    out = generate(load_recipe(args.recipe), args.out, args.n, args.seed, args.workers,
                   parse_shard(args.shard), args.block, progress=not args.quiet, overwrite=args.overwrite,
                   device=args.device, solver=args.solver)
    print(f"wrote {out}")
    return 0


def _merge(args: argparse.Namespace) -> int:
    from invtools.data import merge

    _inputs_exist({f"shard {i + 1}": p for i, p in enumerate(args.shards)})
    print(f"wrote {merge(args.shards, args.out, args.overwrite, args.materialize)}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from invtools.training.config import run_training

    trainer, history = run_training(args.config, resume=args.resume, progress=not args.quiet)
    if trainer.rank == 0 and history:
        last = history[-1]
        print(f"epoch {last['epoch']}: train loss {last['train_loss']:.4g}, val MSE {last['val_mse']:.4g} "
              f"(x0: {last['val_mse_x0']:.4g}); checkpoints in {trainer.resume_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from invtools.training.trained_model import resolve_model
    from invtools.workflow.evaluate import evaluate, format_table

    args.model = resolve_model(args.model)  # a path, or a shipped model's name
    _inputs_exist({"--model": args.model, "--data": args.data})
    if args.out:
        out = Path(args.out)
        check_outputs({"metrics.json": out / "metrics.json", "examples.png": out / "examples.png"},
                      [args.model, args.data], args.overwrite)
    result = evaluate(args.model, args.data, args.baseline, args.baseline_samples, args.max_samples,
                      out_dir=args.out)
    print(format_table(result))
    if args.out:
        print(f"wrote {Path(args.out) / 'metrics.json'} and {Path(args.out) / 'examples.png'}")
    return 0


def _reconstruct(args: argparse.Namespace) -> int:
    import numpy as np

    from invtools.analysis.plotting import plot_grid
    from invtools.classical import ClassicalConfig
    from invtools.training.trained_model import resolve_model
    from invtools.workflow.reconstruct import reconstruct, write_reconstruction
    from invtools.workflow.reconstruct.result import (
        check_label_paths,
        label_images,
        segmentation_rule,
        write_labels,
    )

    if args.model is None and args.method in (None, "model"):
        raise ValueError("pass --model CKPT, or --method gn / linearized for a classical reconstruction")
    _inputs_exist({"--measurements": args.measurements, "--reference": args.reference})
    if args.device is not None and Path(args.device).suffix == ".toml":
        _inputs_exist({"--device": args.device})
    model = resolve_model(args.model) if args.model is not None else None
    _inputs_exist({"--model": model})
    inputs = [args.measurements, model, args.reference]
    if args.recipe is not None and Path(args.recipe).suffix == ".toml":
        inputs.append(args.recipe)
    from invtools.devices import find_device, load_description
    from invtools.devices.reader import reference_path

    # the files' device, given or found by their variables (a bad description fails here, before
    # anything is written); its description and reference file are inputs an output must not replace
    desc = load_description(args.device) if args.device is not None else find_device(args.measurements)
    if desc is not None:
        inputs += [desc.source, reference_path(desc, Path(args.measurements), args.reference)]
    several = len(args.segment or []) > 1
    segments = {f"--segment ({i + 1})" if several else "--segment": p
                for i, p in enumerate(args.segment or [])}
    check_label_paths(args.segment or [])
    check_outputs({"--out": args.out, "--plot": args.plot, **segments}, inputs, args.overwrite)
    ccfg = ClassicalConfig(prior=args.prior, lam=args.lam, iterations=args.iterations,
                           noise_level=args.noise_level)
    rec = reconstruct(args.measurements, args.model, args.method, args.recipe, args.reference, ccfg,
                      args.mesh_h, absolute=args.absolute, device=desc)  # the device found above, once
    labels = label_images(rec) if args.segment else None  # before writing anything
    if labels is not None:
        check_label_paths(args.segment, labels.shape[0])
    write_reconstruction(rec, args.out)
    print(f"wrote {args.out} ({rec.method}, {rec.x.shape[0]} sample(s))")
    for path in args.segment or []:
        names = ", ".join(f"{k} {name}" for k, name in enumerate(rec.classes))
        print(f"wrote {write_labels(labels, path, rec.classes)} ({labels.shape[-1]} x {labels.shape[-1]} "
              f"labels: {names})")
    if args.plot:
        difference = rec.mode == "difference"
        log_contrast = difference and segmentation_rule(rec.method) == "levels"  # positive: the factor
        if log_contrast:
            columns = {f"{rec.method}: log(sigma / sigma0)": np.log(rec.x / rec.sigma0)}
        elif difference:
            columns = {f"{rec.method}: sigma - sigma0": rec.x - rec.sigma0}
        else:
            columns = {**({"truth": rec.truth} if rec.truth is not None else {}), rec.method: rec.x}
        tank_pixels = rec.pixel_rows == "bottom-up"  # a device's pixel image: rows grow with y
        columns = {k: np.asarray(v)[..., ::-1, :] if tank_pixels else np.asarray(v)
                   for k, v in columns.items()}
        units = "S/m" if (rec.mesh is not None or tank_pixels) and not log_contrast else ""
        if rec.mesh is not None and rec.mesh[1].shape[0] == 4:  # 3-D: slices of the first sample
            from invtools.analysis.plotting import plot_slices

            z = rec.mesh[0][2]
            heights = list(z.min() + np.array([0.25, 0.5, 0.75]) * np.ptp(z))
            plot_slices({k: v[0] for k, v in columns.items()}, rec.mesh, heights, args.plot,
                        title=f"{Path(args.measurements).name}, sample 0", units=units)
        else:
            plot_grid(columns, args.plot, rec.mesh, title=Path(args.measurements).name, units=units,
                      diverging=difference, tank=tank_pixels)
        print(f"wrote {args.plot}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from invtools.workflow.demo import run_demo

    m = run_demo(args.out, n_train=args.n, epochs=args.epochs, seed=args.seed, progress=not args.quiet,
                 samples=args.samples, overwrite=args.overwrite)
    from invtools.workflow.demo import verdict

    print(f"test MSE: {m['test_mse']:.4g} (x0: {m['test_mse_x0']:.4g}); on the {m['gn_samples']} "
          f"samples Gauss-Newton ran on: net {m['test_mse_model_on_gn_subset']:.4g}, Gauss-Newton "
          f"{m['test_mse_gn']:.4g}; trained in {m['train_seconds']:.1f} s; figures and files in {args.out}/")
    print(verdict(m))
    for part in m["real"]:
        print(f"{part['description']}: {len(part['files'])} real measurement file(s) by "
              f"{', '.join(part['seconds'])} in {args.out}/{part['figure']}")
    if m["real_skipped"]:
        print(f"real-data part skipped: {m['real_skipped']}")
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``invtools COMMAND: error: ...``) and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def _get_values(self, action, arg_strings):
        # argparse drops a "--" value (``--lam=--``) and would store an empty list, unchecked
        if action.option_strings and action.nargs is None and all(s == "--" for s in arg_strings):
            self.error(f"argument {'/'.join(action.option_strings)}: expected one value")
        return super()._get_values(action, arg_strings)


def installed_version() -> str:
    """The installed distribution's version (its metadata), else the package's ``__version__``
    (a source tree that is on the path but not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("invtools")
    except PackageNotFoundError:
        from invtools import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    """The ``invtools`` argument parser: one sub-command each for generate, merge, train,
    evaluate, reconstruct and demo, each with its examples in the help (and the shipped device
    and model names, read at run time)."""
    from invtools.devices import shipped_devices
    from invtools.training.trained_model import shipped_models

    parser = _Parser(
        prog="invtools", description="Learned reconstruction for nonlinear inverse problems.",
        epilog="Run 'invtools COMMAND --help' for examples. Example: invtools demo --out demo_out")
    parser.add_argument("--version", action="version", version=f"invtools {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help: str, func) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=EXAMPLES[name],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    g = add("generate", "generate a synthetic data set (HDF5) from a recipe", _generate)
    g.add_argument("recipe", nargs="?", help="preset name (see --list) or a TOML recipe file")
    g.add_argument("--out", help="output HDF5 file")
    g.add_argument("-n", type=positive_int, help="number of samples of the whole data set")
    g.add_argument("--seed", type=nonnegative_int, default=0)
    g.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    g.add_argument("--shard", default="0/1", help="i/n: write only the i-th of n equal parts")
    g.add_argument("--block", type=positive_int, default=32, help="samples per resumable block (default 32)")
    g.add_argument("--overwrite", action="store_true")
    g.add_argument("--device", default="cpu",
                   help="cpu (default), cuda, cuda:N or auto: where the forward solves and x0 run")
    g.add_argument("--solver", choices=["auto", "direct", "dense"], default=None,
                   help="the CEM's linear solver (default: the recipe's; auto is the sparse LU on "
                        "the CPU and the batched dense Cholesky on a GPU)")
    g.add_argument("--list", action="store_true", help="list the built-in presets")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    m = add("merge", "join shards of one data set into one file (HDF5 virtual datasets)", _merge)
    m.add_argument("shards", nargs="+")
    m.add_argument("--out", required=True)
    m.add_argument("--overwrite", action="store_true")
    m.add_argument("--materialize", action="store_true",
                   help="copy the samples into one self-contained file (default: virtual datasets "
                        "that point into the shards, which must stay beside it)")

    t = add("train", "train an unrolled network as described by a TOML config", _train)
    t.add_argument("config", help="training config (TOML), see datasets/README.md")
    t.add_argument("--resume", action="store_true", help="continue from last.pt in the run's folder")
    t.add_argument("--quiet", action="store_true")

    e = add("evaluate", "metrics table and example figure of a model and the classical baseline", _evaluate)
    e.add_argument("--model", required=True, help="checkpoint (best.pt or last.pt)")
    e.add_argument("--data", required=True, help="test set (HDF5 from generate)")
    e.add_argument("--out", help="folder for metrics.json and examples.png")
    e.add_argument("--baseline", default="gn", choices=["gn", "linearized", "none"])
    e.add_argument("--baseline-samples", type=nonnegative_int, default=16,
                   help="baseline on this many samples")
    e.add_argument("--max-samples", type=positive_int, help="score only the first N samples")
    e.add_argument("--overwrite", action="store_true", help="replace metrics.json/examples.png in --out")

    r = add("reconstruct", "reconstruct from a measurement file (HDF5, NPZ, CSV, .mat)", _reconstruct)
    r.add_argument("--measurements", required=True)
    r.add_argument("--out", required=True, help="output HDF5 file")
    r.add_argument("--plot", help="output PNG")
    r.add_argument("--overwrite", action="store_true", help="replace existing --out/--plot files")
    r.add_argument("--segment", nargs="+", metavar="PATH",
                   help="three-class label image in the device's pixel frame (its description's "
                        "[image] label_pixels and rows; other EIT files: 256 x 256, electrode 1 at "
                        "the top): .mat, .npz and/or .png")
    r.add_argument("--model", help="checkpoint of a trained network, or a shipped model's name "
                   f"({', '.join(shipped_models()) or 'none shipped'})")
    r.add_argument("--method", metavar="METHOD",
                   help="model (the default when --model is given), gn, linearized, or a method "
                        "of the device's own (its adapter refuses one it lacks); without --model "
                        "a classical method must be named")
    r.add_argument("--recipe", help="forward model for files that carry none (NPZ/CSV)")
    r.add_argument("--reference", help="reference data for difference imaging (default: the device's "
                   "reference file beside the measurements)")
    r.add_argument("--prior", default="laplacian", choices=["laplacian", "tikhonov", "tv"],
                   help="smoothness (default), identity, or smoothed total variation (edges kept)")
    r.add_argument("--lam", type=positive_float,
                   help="prior weight (default: discrepancy principle or L-curve)")
    r.add_argument("--noise-level", type=fraction, help="relative noise level, for the discrepancy principle")
    r.add_argument("--iterations", type=positive_int, default=10, help="Gauss-Newton iterations")
    r.add_argument("--absolute", action="store_true",
                   help="device files: image the voltages themselves, not their change from the "
                   "reference (--method gn, on the device's finer calibration mesh; tens of seconds)")
    r.add_argument("--mesh-h", type=positive_float, default=None,
                   help="device files: mesh size (m) of the physics under the image pixels (default: "
                   "the description's)")
    r.add_argument("--device", metavar="NAME|TOML",
                   help="the measurement files' device: a shipped description "
                   f"({', '.join(shipped_devices())}) or a device description TOML file (see "
                   "docs/your-own-tank.md)")

    d = add("demo", "small end-to-end run: generate, train, evaluate, reconstruct, plot", _demo)
    d.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    d.add_argument("--overwrite", action="store_true", help="replace an existing --out folder (whole)")
    d.add_argument("-n", type=positive_int, default=1024, help="training signals (default 1024)")
    d.add_argument("--epochs", type=positive_int, default=10)
    d.add_argument("--seed", type=nonnegative_int, default=0)
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.add_argument("--samples", metavar="FOLDER|none",
                   help="real measurement files for the real-data part: a folder holding a shipped "
                   "device's sample files (the device is the one whose [samples] files it holds; "
                   "default: every shipped device's samples that are found, by the [samples] "
                   "table's environment variable or folder); 'none' skips the part")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (default ``sys.argv[1:]``); returns the exit status: 0 on
    success, 1 after a one-line error, 130 if interrupted."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"invtools {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 (one line, never a traceback, for any bad input)
        if os.environ.get("INVTOOLS_DEBUG"):
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        kind = "" if isinstance(err, (ValueError, OSError)) else f"{type(err).__name__}: "
        print(f"invtools {args.command}: error: {kind}{message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

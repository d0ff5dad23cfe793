"""The ``invtools`` command line."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> int:
    from invtools.demo import run_demo

    m = run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.quiet)
    print(f"test MSE: {m['test_mse']:.4g} (x0 = 0: {m['test_mse_x0']:.4g}); "
          f"trained in {m['train_seconds']:.1f} s; wrote {args.out}/demo.png and metrics.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="invtools",
        description="Learned reconstruction for nonlinear inverse problems.",
        epilog="Example: invtools demo --out demo_out",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="small end-to-end run: generate, train, reconstruct, plot",
                          epilog="Example: invtools demo --out demo_out --epochs 30")
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--epochs", type=int, default=25)
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as err:
        print(f"invtools {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Training-data reading: one shuffled epoch of ``(x, y, x0)`` batches through a DataLoader, rows
read one by one from the HDF5 file against the rows read into memory at first access
(:class:`invtools.data.H5Dataset` ``in_memory``), paired in one run.

    python -m benchmarks.speed.data_loading [--data data/kit4_train.h5] [--samples 2000] [--repeats 5]

Without ``--data`` (or when the file is absent), ``--samples`` samples of the ``eit-discs2``
preset are generated into a temporary folder first (compressed chunks of 64 rows, as every
generated file). Prints per mode the seconds per epoch (median of ``--repeats``, the in-memory
read included in each epoch) and the paired ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from torch.utils.data import DataLoader, RandomSampler

from benchmarks._timing import paired_ratio, print_table
from invtools.data import H5Dataset, generate
from invtools.data.recipes import load_recipe


def epoch(path: Path, in_memory: bool, batch_size: int = 32) -> None:
    """One shuffled pass over a fresh dataset (so the in-memory read counts every time)."""
    import torch

    data = H5Dataset(path, in_memory=in_memory)
    shuffle = RandomSampler(data, generator=torch.Generator().manual_seed(0))
    for _ in DataLoader(data, batch_size, sampler=shuffle):
        pass


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="an invtools HDF5 data set (default: generate one)")
    p.add_argument("--samples", type=int, default=2000, help="samples to generate without --data")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.data) if args.data and Path(args.data).is_file() else None
        if path is None:
            path = Path(tmp) / "data.h5"
            t0 = time.perf_counter()
            generate(load_recipe("eit-discs2"), path, args.samples, seed=0, progress=False)
            print(f"generated {args.samples} eit-discs2 samples in {time.perf_counter() - t0:.0f} s")
        n = len(H5Dataset(path))
        lazy, loaded = (min(_times(path, m, args.repeats)) for m in (False, True))
        ratio, lo, hi = paired_ratio(lambda: epoch(path, False), lambda: epoch(path, True),
                                     repeats=args.repeats, warmup=0)
    print_table(["rows read", "samples", "s per epoch (best)"],
                [["one by one", n, f"{lazy:.2f}"], ["into memory", n, f"{loaded:.2f}"]])
    print(f"one by one / into memory, paired median of {args.repeats}: {ratio:.1f} [{lo:.1f}, {hi:.1f}]")


def _times(path: Path, in_memory: bool, repeats: int) -> list[float]:
    out = []
    for _ in range(max(1, repeats // 2)):
        t0 = time.perf_counter()
        epoch(path, in_memory)
        out.append(time.perf_counter() - t0)
    return out


if __name__ == "__main__":
    main()

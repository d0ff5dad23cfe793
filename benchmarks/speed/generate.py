"""Data-set generation speed: samples/s of EIT generation with 1 and 2 worker processes, and
the per-sample cost against one forward solve (phantom + solve + noise + writing).

    python -m benchmarks.speed.generate [--samples 1200] [--h 0.1 0.05] [--repeats 2]

Targets: near-linear scaling from 1 to 2 workers; per-sample cost (1 worker) within
1.5x of one forward solve. Runs are interleaved (1, 2, 1, 2 workers) and medians reported; the
rates and the first scaling are wall-clock and include start-up (mesh, imports of workers) and the final HDF5
assembly. The per-sample cost is the marginal one, (T(2N) - T(N)) / N with 1 worker: phantom,
forward solve, noise, block file and its share of the HDF5 file, without one-off start-up;
"scaling (marginal)" is the same ratio between 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmarks._timing import median_time, print_table
from invtools.data import generate
from invtools.data.recipes import Problem, Recipe, load_recipe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=1200)
    p.add_argument("--h", type=float, nargs="+", default=[0.1, 0.05], help="mesh sizes of eit-discs2")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).parents[1] / "results" / "generate.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    rows, records = [], []
    for h in args.h:
        d = load_recipe("eit-discs2").to_dict()
        d["operator"]["h"] = h
        recipe = Recipe.from_dict(d)
        problem = Problem(recipe)
        x = torch.as_tensor(problem.samples(np.arange(1), 0)["x"])
        with torch.no_grad(), threadpool_limits(1):  # the floor: one solve on one core
            solve = median_time(lambda: problem.op(x), repeats=20)  # noqa: B023
        walls: dict[tuple[int, int], list[float]] = {(1, 1): [], (2, 1): [], (1, 2): [], (2, 2): []}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.repeats):
                for w, factor in walls:
                    t0 = time.perf_counter()
                    generate(recipe, Path(tmp) / f"w{w}_{factor}_{r}.h5", factor * args.samples, seed=r,
                             workers=w, progress=False)
                    walls[(w, factor)].append(time.perf_counter() - t0)
        t1, t2 = statistics.median(walls[(1, 1)]), statistics.median(walls[(2, 1)])
        per_sample = (statistics.median(walls[(1, 2)]) - t1) / args.samples
        per_sample_2 = (statistics.median(walls[(2, 2)]) - t2) / args.samples
        rows.append([h, problem.op.n_in, args.samples, args.samples / t1, args.samples / t2, t1 / t2,
                     per_sample / per_sample_2, solve * 1e3, per_sample * 1e3, per_sample / solve])
        keys = ["h", "elements", "samples", "rate_1", "rate_2", "scaling", "marginal_scaling", "solve_ms",
                "per_sample_ms", "per_sample_over_solve"]
        records.append(dict(zip(keys, rows[-1], strict=True)))
    print_table(["h", "elements", "samples", "samples/s (1 worker)", "samples/s (2 workers)", "scaling",
                 "scaling (marginal)",
                 "one forward solve (ms)", "marginal per sample, 1 worker (ms)", "per sample / solve"], rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()

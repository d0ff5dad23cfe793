"""``invtools generate``: draw a synthetic data set from a recipe into an HDF5 file.

Samples are produced in blocks (in worker processes when ``workers > 1``). Each finished
block is written atomically to ``OUT.parts/`` and, when all are there, assembled into
``OUT`` (written under a temporary name, then renamed) and the parts are removed. Re-running
an interrupted command with the same settings skips the finished blocks, so a resumed run
loses and duplicates nothing; sample i depends only on (seed, i), so the result is
bit-for-bit the same as an uninterrupted run, with any number of workers or shards.

Every block records what made it (:func:`block_stamp`: block format, recipe hash, seed and
sample range). A resumed run checks each finished block against its own stamp; one that does not
match (another seed or recipe, another sample range, an older format, or unreadable) is
discarded and regenerated, with a line on stderr naming it and saying why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from invtools.data.h5file import SCHEMA_VERSION, create_arrays, write_attrs, write_mesh
from invtools.data.recipes import Problem, Recipe
from invtools.support.atomic import atomic_path
from invtools.support.devices import resolve_device
from invtools.support.provenance import provenance
from invtools.support.validation import check_int


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise ValueError(f"--shard i/n needs 0 <= i < n, got {text!r}")
    return i, n


def shard_range(n_samples: int, shard: tuple[int, int]) -> tuple[int, int]:
    """(start, stop): the samples start..stop-1 of ``n_samples`` that shard (i, n) holds; the
    n shards split the data set into contiguous parts of nearly equal size."""
    i, n = shard
    return n_samples * i // n, n_samples * (i + 1) // n


def _block_path(parts: Path, start: int, stop: int) -> Path:
    return parts / f"block_{start:010d}_{stop:010d}.npz"


BLOCK_FORMAT = 2  # 1: blocks without a stamp


def recipe_hash(recipe: Recipe) -> str:
    """A short hash of the recipe's canonical JSON."""
    return hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def block_stamp(recipe: Recipe, seed: int, start: int, stop: int) -> dict[str, Any]:
    """What a block of samples start..stop-1 of (recipe, seed) records about its making."""
    return {"format": BLOCK_FORMAT, "recipe": recipe_hash(recipe), "seed": seed,
            "start": start, "stop": stop}


def _write_block(problem: Problem, parts: Path, start: int, stop: int, seed: int) -> int:
    arrays = problem.samples(np.arange(start, stop), seed)
    stamp = json.dumps(block_stamp(problem.recipe, seed, start, stop))
    with atomic_path(_block_path(parts, start, stop)) as tmp:
        np.savez(tmp, stamp=np.array(stamp), index=np.arange(start, stop),
                 **{k: v.astype(np.float32) for k, v in arrays.items()})
    return stop - start


def _read_stamp(path: Path) -> dict[str, Any] | None:
    """A block's stamp; None for a block without one (format 1). Raises ValueError if the
    block cannot be read."""
    try:
        with np.load(path) as z:
            if "stamp" not in z.files:
                return None
            stamp = json.loads(str(z["stamp"]))
    except Exception as err:  # noqa: BLE001 (zip, npy, JSON and OS errors of a damaged block)
        raise ValueError(f"unreadable ({type(err).__name__}: truncated or corrupt)") from None
    if not isinstance(stamp, dict):
        raise ValueError("unreadable (its stamp is not a JSON object)")
    return stamp


def stamp_mismatch(path: Path, expected: dict[str, Any]) -> str | None:
    """Why the finished block at ``path`` is not one of this run's blocks, or None if it is."""
    try:
        stamp = _read_stamp(path)
    except ValueError as err:
        return str(err)
    if stamp is None:
        return f"it has no stamp (block format 1; this run writes format {BLOCK_FORMAT})"
    names = {"format": "block format", "recipe": "recipe hash", "seed": "seed"}
    for key, name in names.items():
        if stamp.get(key) != expected[key]:
            return f"made with {name} {stamp.get(key)!r}, this run has {expected[key]!r}"
    if (stamp.get("start"), stamp.get("stop")) != (expected["start"], expected["stop"]):
        return (f"holds samples {stamp.get('start')!r}..{stamp.get('stop')!r} (exclusive), its "
                f"name says {expected['start']}..{expected['stop']}")
    return None


def _finished(problem: Problem, parts: Path, a: int, b: int, seed: int) -> bool:
    """Whether block a..b is finished and this run's; a foreign one is discarded, with a message."""
    path = _block_path(parts, a, b)
    if not path.exists():
        return False
    why = stamp_mismatch(path, block_stamp(problem.recipe, seed, a, b))
    if why is None:
        return True
    print(f"invtools generate: discarding {path}: {why}; regenerating it", file=sys.stderr)
    path.unlink()
    return False


_WORKER: dict[str, Any] = {}


def _init_worker(recipe: dict[str, Any], solver: str | None) -> None:
    torch.set_num_threads(1)
    _WORKER["limits"] = threadpool_limits(1)  # one core per worker: no BLAS threads either
    _WORKER["problem"] = Problem(Recipe.from_dict(recipe), solver=solver)


def _worker_block(args: tuple[str, int, int, int]) -> int:
    parts, start, stop, seed = args
    return _write_block(_WORKER["problem"], Path(parts), start, stop, seed)


def generate(recipe: Recipe, out: str | Path, n_samples: int, seed: int = 0, workers: int = 1,
             shard: tuple[int, int] = (0, 1), block: int = 32, progress: bool = True,
             overwrite: bool = False, device: str = "cpu", solver: str | None = None) -> Path:
    """Generate samples ``shard_range(n_samples, shard)`` of the data set (recipe, seed) into
    ``out``; resume from ``out.parts/`` if present. Returns the output path.

    ``device="cuda"`` runs the forward solves and the linearised x0 on the GPU (in this process:
    ``workers`` must be 1); ``solver`` overrides the operators' linear solver (``dense`` on the
    CPU tests the GPU's path). Each sample still depends only on (seed, index), and equals the
    CPU's to 1e-10 relative (the file stores float32).
    """
    out = Path(out)
    check_int("-n", n_samples, 1)
    check_int("--block", block, 1)
    check_int("--workers", workers, 1)
    check_int("--seed", seed, 0)
    device = check_device(device, workers)
    start, stop = shard_range(n_samples, shard)
    if stop <= start:
        raise ValueError(f"shard {shard[0]}/{shard[1]} of {n_samples} samples is empty")
    parts = out.with_name(out.name + ".parts")
    meta = {"recipe": recipe.to_dict(), "seed": seed, "n_samples": n_samples, "start": start,
            "stop": stop, "block": block}
    blocks = [(a, min(a + block, stop)) for a in range(start, stop, block)]
    out.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(out):
        if out.exists() and not overwrite:
            raise FileExistsError(f"{out} already exists; pass --overwrite to replace it")
        created = _prepare_parts(parts, meta, overwrite)
        try:
            problem = Problem(recipe, device, solver)  # built once: blocks and the assembly share it
            _generate_blocks(problem, parts, blocks, seed, workers, progress)
            _assemble(problem, out, parts, blocks, meta)
            shutil.rmtree(parts)
        except Exception:
            if created and parts.is_dir() and not any(parts.glob("block_*.npz")):
                shutil.rmtree(parts, ignore_errors=True)  # nothing to resume: leave nothing behind
            raise
    return out


def check_device(device: str, workers: int) -> torch.device:
    """The torch device of ``--device`` (``auto``: CUDA when available); refuses CUDA where
    there is none, and several workers on one GPU."""
    try:
        dev = resolve_device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r}: not a torch device (cpu, cuda, cuda:N, auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available here")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device}: generation runs on cpu or cuda")
    if dev.type == "cuda" and workers > 1:
        raise ValueError(f"--device {device} runs in this process (the GPU is the parallelism): "
                         f"--workers must be 1, got {workers}")
    return dev


def _prepare_parts(parts: Path, meta: dict[str, Any], overwrite: bool) -> bool:
    """Make ``parts`` ready for this run; True if this run created it."""
    if parts.exists():
        try:
            old = json.loads((parts / "meta.json").read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if old != meta and (overwrite or not any(parts.glob("block_*.npz"))):
            shutil.rmtree(parts)  # asked for, or nothing finished there to lose
        elif old != meta:
            raise ValueError(f"{parts} holds finished blocks of an interrupted run with other settings; "
                             "re-run it with the same recipe, -n, --seed, --shard and --block to resume "
                             "it, or pass --overwrite to discard it")
    if parts.exists():
        return False
    parts.mkdir(parents=True)
    with atomic_path(parts / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta))
    return True


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold a lock beside ``out`` (POSIX): a second run on the same output stops at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        yield
        return
    lock = out.with_name(f".{out.name}.lock")
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ValueError(f"another invtools generate is writing {out} right now; wait for it "
                             "to finish") from None
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def _generate_blocks(problem: Problem, parts: Path, blocks: list[tuple[int, int]], seed: int,
                     workers: int, progress: bool) -> None:
    recipe = problem.recipe
    todo = [(a, b) for a, b in blocks if not _finished(problem, parts, a, b, seed)]
    total = blocks[-1][1] - blocks[0][0]
    bar = tqdm(total=total, initial=total - sum(b - a for a, b in todo),
               disable=not progress, desc=f"generate {recipe.name}", unit="sample")
    if workers <= 1 or len(todo) <= 1:
        with threadpool_limits(1):  # small per-sample BLAS calls are faster single-threaded
            for a, b in todo:
                bar.update(_write_block(problem, parts, a, b, seed))
    else:
        # fork starts workers in milliseconds (as torch's DataLoader does on Linux); spawn elsewhere
        ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
        with ctx.Pool(workers, initializer=_init_worker,
                      initargs=(recipe.to_dict(), problem.solver)) as pool:
            for done in pool.imap_unordered(_worker_block, [(str(parts), a, b, seed) for a, b in todo]):
                bar.update(done)
    bar.close()


def _read_block(problem: Problem, parts: Path, a: int, b: int, seed: int) -> dict[str, np.ndarray]:
    path = _block_path(parts, a, b)
    why = stamp_mismatch(path, block_stamp(problem.recipe, seed, a, b))
    if why is not None:  # changed after it was checked
        raise ValueError(f"{path}: {why}; delete it and re-run the same command to regenerate it")
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in ("index", "x", "y", "x0")}
    except Exception as err:  # noqa: BLE001 (zip, npy and OS errors of a damaged block)
        raise ValueError(f"{path}: unreadable block ({type(err).__name__}: truncated or "
                         "corrupt); delete it and re-run the same command to regenerate it") from None
    if not np.array_equal(arrays["index"], np.arange(a, b)):
        raise ValueError(f"{path}: holds samples other than {a}..{b - 1}; delete it and re-run")
    return arrays


def _assemble(problem: Problem, out: Path, parts: Path, blocks: list[tuple[int, int]],
              meta: dict[str, Any]) -> None:
    """Copy the finished blocks, in order and checked, into the HDF5 file (atomically)."""
    recipe, problem_op = problem.recipe, problem.op
    n = meta["stop"] - meta["start"]
    for stale in out.parent.glob(f".{out.name}.*.tmp{out.suffix}"):
        stale.unlink()  # left by an assembly that was killed
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        shapes = {"x": problem_op.in_shape, "y": problem_op.out_shape, "x0": problem_op.in_shape}
        create_arrays(f, n, shapes)
        for a, b in blocks:
            z = _read_block(problem, parts, a, b, meta["seed"])
            for name in shapes:
                f[name][a - meta["start"]: b - meta["start"]] = z[name]
        write_mesh(f, getattr(problem_op, "mesh", None))
        write_attrs(f, {"schema": SCHEMA_VERSION, "recipe": recipe.to_dict(),
                        "operator": problem_op.config(), "parametrization": recipe.parametrization,
                        "seed": meta["seed"], "sample_offset": meta["start"],
                        "total_samples": meta["n_samples"],
                        "provenance": provenance(meta["seed"], command="generate",
                                                 device=str(problem.device),
                                                 solver=problem.solver or "auto")})

"""Checkpoint files that cannot run code: ``torch.load(weights_only=True)`` and nothing else.

A checkpoint is a dict of tensors, numbers, strings, lists, tuples and dicts only (the numpy
RNG state is stored as a list of ints), which torch's restricted unpickler reads without any
allow-list. A file that names any other Python object is refused before anything in it runs.

Checkpoints written before this format kept the numpy RNG state as an ``ndarray``; they load
through an allow-list of numpy's array reconstruction alone (it builds arrays, calls nothing
else), and the array is checked to be that RNG state.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invtools.support.atomic import write_bytes_atomic


class CheckpointError(ValueError):
    """A file that is not a checkpoint invtools can load safely."""


def _numpy_array_globals() -> list:
    """What rebuilding a plain numpy array needs from the unpickler (no callables beyond these)."""
    multiarray = getattr(np, "_core", np.core).multiarray
    dtype_types = [type(np.dtype(t)) for t in (np.uint32, np.float64, np.int64)]
    return [multiarray._reconstruct, np.ndarray, np.dtype, *dtype_types]


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` atomically (serialised in memory, then a temporary file and a rename)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without executing anything from the file.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a checkpoint, truncated, or holding objects that could run code.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        ckpt = _load(path, map_location)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as err:
        reason = str(err).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        raise CheckpointError(
            f"{path}: refused: the file holds Python objects that could run code when loaded "
            f"({reason[:160]}); invtools checkpoints hold only tensors and plain data. If you "
            "wrote this file yourself with an older version, re-train or re-save it with this "
            "version") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: "
                              f"{type(err).__name__})") from None
    if not isinstance(ckpt, dict) or not {"arch", "model", "operator"} <= set(ckpt):
        raise CheckpointError(f"{path}: not an invtools checkpoint (missing arch/model/operator)")
    return ckpt


def _load(path: Path, map_location) -> Any:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass
    # an older checkpoint: its numpy RNG state is an ndarray; allow array reconstruction only
    with torch.serialization.safe_globals(_numpy_array_globals()):
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    _check_legacy_arrays(ckpt, path)
    return ckpt


def _check_legacy_arrays(obj: Any, path: Path, where: str = "") -> None:
    """The only array an older checkpoint may hold is the numpy RNG state's uint32 key."""
    if isinstance(obj, np.ndarray):
        if where != "/rng/numpy[1]" or obj.dtype != np.uint32:
            raise CheckpointError(f"{path}: refused: unexpected numpy array at {where or '/'}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_legacy_arrays(v, path, f"{where}/{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_legacy_arrays(v, path, f"{where}[{i}]")


def numpy_rng_state() -> list:
    """numpy's legacy global RNG state as plain data (no ndarray)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]


def set_numpy_rng_state(state) -> None:
    """Restore what :func:`numpy_rng_state` stored (also the ndarray of older checkpoints)."""
    name, keys, pos, has_gauss, cached = state
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))  # noqa: NPY002


@contextlib.contextmanager
def malformed_record(path: str | Path, part: str):
    """Turn any failure to rebuild ``part`` from a checkpoint into one :class:`CheckpointError`."""
    try:
        yield
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 (KeyError, TypeError, shape errors of a bad record)
        message = str(err).splitlines()[0][:160] if str(err) else ""
        raise CheckpointError(f"{path}: the checkpoint's {part} record is malformed or does not fit "
                              f"this version ({type(err).__name__}: {message})") from None

"""``ReusedOutput``: the memory of an operator's last large output, handed out again once nothing
refers to it any more.

A dense Jacobian is large (256 x 20k float64 is 41 MB; a batch is B times that) and a caller
such as a Gauss-Newton loop drops each one before asking for the next. Fresh memory of that
size comes from the operating system page by page: its first write costs one page fault per
4 kB, about a quarter of the CEM Jacobian's time at 10k nodes (``benchmarks/speed/eit_stages.py``).
Reusing the previous output's memory when the caller has let go of it removes that cost,
as torch's CUDA caching allocator does for device memory.

Safety: the buffer is a numpy array that every tensor handed out holds (``torch.from_numpy``),
so while any tensor, view or numpy view of an output is alive its reference count says so and
a new one is made instead. Where reference counts are not exact (a free-threaded interpreter)
nothing is reused. At most one buffer is kept, of at most ``max_bytes``.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import torch

# sys.getrefcount(buffer) for a buffer held only by this object: its attribute and the argument
_UNREFERENCED = 2


def _refcounts_exact() -> bool:
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return is_gil_enabled is None or bool(is_gil_enabled())


class ReusedOutput:
    """Hands out uninitialised float64 CPU tensors, reusing the last one's memory when free.

    Args:
        max_bytes: outputs larger than this are always fresh and never kept.
    """

    def __init__(self, max_bytes: int = 2**30):
        self.max_bytes = max_bytes
        self._buffer: np.ndarray | None = None
        self._lock = threading.Lock()

    def new(self, shape: tuple[int, ...]) -> torch.Tensor:
        """An uninitialised float64 tensor of ``shape``; the caller writes every entry."""
        shape = tuple(int(s) for s in shape)
        if 8 * int(np.prod(shape)) > self.max_bytes or not _refcounts_exact():
            return torch.empty(shape, dtype=torch.float64)
        with self._lock:
            buffer = self._buffer
            if (buffer is None or buffer.shape != shape
                    or sys.getrefcount(buffer) > _UNREFERENCED + 1):  # + the local name
                # torch's allocator, not numpy's: numpy advises huge pages on large arrays,
                # which on malloc's heap slows every later allocation made there
                buffer = torch.empty(shape, dtype=torch.float64).numpy()
                self._buffer = buffer
            return torch.from_numpy(buffer)

    def release(self) -> None:
        """Drop the kept buffer (its memory is freed once no output refers to it)."""
        with self._lock:
            self._buffer = None

    # a copy or pickle of the owner starts with nothing kept (and a lock of its own)
    def __reduce__(self):
        return type(self), (self.max_bytes,)

    def __deepcopy__(self, memo: dict) -> ReusedOutput:
        return type(self)(self.max_bytes)

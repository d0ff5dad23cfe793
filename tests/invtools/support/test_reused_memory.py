"""ReusedOutput: an output's memory is handed out again only once nothing refers to it."""

import copy
import pickle
import threading

import numpy as np
import pytest
import torch

from invtools.support import reused_memory
from invtools.support.reused_memory import ReusedOutput


def test_memory_of_a_dropped_output_is_reused():
    pool = ReusedOutput()
    first = pool.new((3, 5))
    ptr = first.data_ptr()
    del first
    again = pool.new((3, 5))
    assert again.data_ptr() == ptr
    assert again.dtype == torch.float64 and again.shape == (3, 5) and again.is_contiguous()


@pytest.mark.parametrize("keep", ["tensor", "view", "numpy", "reshaped"])
def test_an_output_still_referred_to_is_never_overwritten(keep):
    pool = ReusedOutput()
    out = pool.new((4, 6))
    out.copy_(torch.arange(24.0).view(4, 6))
    held = {"tensor": lambda t: t, "view": lambda t: t[1:3], "numpy": lambda t: t.numpy(),
            "reshaped": lambda t: t.view(-1)}[keep](out)
    def values(h):
        return np.array(h.numpy() if isinstance(h, torch.Tensor) else h, copy=True)

    expected = values(held)
    del out
    for _ in range(3):  # every new output is fresh memory while `held` is alive
        new = pool.new((4, 6))
        new.fill_(-1.0)
    np.testing.assert_array_equal(values(held), expected)


def test_two_live_outputs_never_share_memory():
    pool = ReusedOutput()
    a, b = pool.new((2, 2)), pool.new((2, 2))
    assert a.data_ptr() != b.data_ptr()


def test_other_shapes_large_outputs_and_release_get_fresh_memory():
    pool = ReusedOutput(max_bytes=8 * 100)
    out = pool.new((10, 10))
    ptr = out.data_ptr()
    del out
    other = pool.new((5, 20))  # same size, another shape: fresh, and now the kept one
    assert other.data_ptr() != ptr and pool._buffer.shape == (5, 20)
    ptr = other.data_ptr()
    del other
    big = pool.new((11, 10))  # over max_bytes: fresh and not kept
    assert big.data_ptr() != ptr and pool._buffer.shape == (5, 20)
    pool.release()
    assert pool._buffer is None
    assert pool.new((5, 20)).shape == (5, 20)


def test_no_reuse_where_reference_counts_are_not_exact(monkeypatch):
    monkeypatch.setattr(reused_memory, "_refcounts_exact", lambda: False)
    pool = ReusedOutput()
    pool.new((3, 3))
    assert pool._buffer is None  # nothing kept, so nothing can be handed out twice


def test_copies_and_pickles_keep_nothing():
    pool = ReusedOutput(max_bytes=1234)
    out = pool.new((2, 3))
    del out
    for clone in (copy.deepcopy(pool), pickle.loads(pickle.dumps(pool))):
        assert clone.max_bytes == 1234 and clone._buffer is None


def test_threads_never_get_the_same_live_buffer():
    pool = ReusedOutput()
    seen: list[torch.Tensor] = []
    lock = threading.Lock()

    def work():
        for _ in range(50):
            t = pool.new((8, 8))
            with lock:
                seen.append(t)  # all kept alive: every pointer must differ

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len({t.data_ptr() for t in seen}) == len(seen)

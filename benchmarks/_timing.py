"""Small timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_times(fns: list[Callable[[], object]], repeats: int = 20,
                      warmup: int = 3) -> list[float]:
    """Median wall times (s) of several functions, run alternately so machine drift hits all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def paired_ratio(numerator: Callable[[], object], denominator: Callable[[], object],
                 repeats: int = 31, warmup: int = 2) -> tuple[float, float, float]:
    """Median of the per-pair time ratios numerator/denominator, with a distribution-free 95%
    interval of that median (order statistics of the binomial): each pair runs back to back, in
    alternating order, so the machine's drift between pairs cancels out of every ratio."""
    import numpy as np
    from scipy.stats import binom

    for _ in range(warmup):
        numerator(), denominator()
    ratios = []
    for i in range(repeats):
        pair = (numerator, denominator) if i % 2 == 0 else (denominator, numerator)
        times = []
        for fn in pair:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        ratios.append(times[0] / times[1] if i % 2 == 0 else times[1] / times[0])
    r = np.sort(ratios)
    k = int(binom.ppf(0.025, repeats, 0.5))  # the k-th and (n-k+1)-th of n cover the median, >= 95%
    return float(np.median(r)), float(r[max(k - 1, 0)]), float(r[min(repeats - k, repeats - 1)])


def print_table(header: list[str], rows: list[list[object]]) -> None:
    """Print a Markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in row) + " |")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def peak_memory(fn: Callable[[], object], interval: float = 0.0005) -> float:
    """Peak resident memory (MiB) added while ``fn()`` runs, sampled from /proc (Linux)."""
    import threading

    base = _rss_bytes()
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    peak[0] = max(peak[0], _rss_bytes())
    return (peak[0] - base) / 2**20

"""Missing data: which measured values exist (a missing one is NaN in ``y``).

**Electrode masks.** Data are injection-major, as in a CEM operator with one measurement matrix
per injection: value ``p * k + j`` is measurement row ``j`` (of the (k, L) matrix) during
injection ``p`` (of the (P, L) currents). A failed electrode can neither drive current nor be
read: every injection that drives it loses all its values, and every measurement row that
involves it is lost in the other injections.

**Synthetic data sets.** The recipe's ``[mask]`` table draws, for every sample, which values
exist, so that a data set covers the difficulty levels and broken electrodes anywhere.

``type = "none"`` (the default): complete data. ``type = "electrodes"`` (CEM operators): each
sample is, independently and in the stated proportions,

- a **level** (``level_fraction``): one of ``levels`` (uniform); difficulty level L removes
  electrodes 1 .. 2(L-1) (level 1: complete data);
- **broken electrodes** (``broken_fraction``): ``broken`` = [min, max] electrodes anywhere
  (uniform count, then a uniform subset);
- **dropped values** (``dropout_fraction``): single values lost at random, a fraction uniform
  in ``dropout``;
- complete data otherwise.

A sample's mask depends only on (seed, index), through its own stream, so it never changes the
phantom or noise draws of the sample.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Patterns = np.ndarray | Sequence[np.ndarray]  # one (k, L) measurement matrix, or one per injection

LEVELS = tuple(range(1, 8))  # the difficulty levels: level L removes electrodes 1 .. 2(L-1)


def electrode_mask(currents: np.ndarray, measurement: Patterns,
                   removed: Iterable[int]) -> np.ndarray:
    """(m,) bool, True where a value survives the loss of the electrodes ``removed`` (0-based),
    for currents (P, L) and one measurement matrix (k, L) for every injection, or a list of P
    matrices (k_p, L), one per injection (m = sum of k_p)."""
    currents = np.asarray(currents)
    P, L = currents.shape
    single = isinstance(measurement, np.ndarray) and measurement.ndim == 2
    matrices = [measurement] * P if single else [np.asarray(m) for m in measurement]
    if len(matrices) != P:
        raise ValueError(f"{len(matrices)} measurement matrices for {P} injections")
    removed = np.asarray(sorted(set(int(e) for e in removed)), dtype=int)
    if removed.size and (removed.min() < 0 or removed.max() >= L):
        raise ValueError(f"removed electrodes {removed.tolist()} are not in 0..{L - 1}")
    dead = np.zeros(L, dtype=bool)
    dead[removed] = True
    injection_ok = ~(currents[:, dead] != 0).any(axis=1)  # (P,)
    return np.concatenate([injection_ok[p] & ~(m[:, dead] != 0).any(axis=1) for p, m in enumerate(matrices)])


def level_electrodes(level: int) -> list[int]:
    """The electrodes (0-based) that difficulty level ``level`` removes: 1 .. 2(level - 1), 1-based."""
    if level not in LEVELS:
        raise ValueError(f"difficulty level must be one of {list(LEVELS)}, got {level!r}")
    return list(range(2 * (level - 1)))


def level_mask(currents: np.ndarray, measurement: Patterns, level: int) -> np.ndarray:
    """(P k,) bool: the values difficulty level ``level`` keeps (level 1 keeps all)."""
    return electrode_mask(currents, measurement, level_electrodes(level))


def level_of_mask(currents: np.ndarray, measurement: Patterns, mask: np.ndarray | None) -> int | None:
    """The difficulty level whose mask ``mask`` is (None: complete data, level 1), else None."""
    if mask is None:
        return 1
    for level in LEVELS:
        if np.array_equal(level_mask(currents, measurement, level), np.asarray(mask, dtype=bool)):
            return level
    return None


def random_electrode_mask(currents: np.ndarray, measurement: Patterns, rng: np.random.Generator,
                          count: tuple[int, int]) -> tuple[np.ndarray, list[int]]:
    """A mask of ``count[0]``..``count[1]`` failed electrodes anywhere (uniform count, then a
    uniform subset), and the electrodes (0-based)."""
    L = np.asarray(currents).shape[1]
    n = int(rng.integers(count[0], count[1] + 1))
    removed = sorted(int(e) for e in rng.choice(L, size=n, replace=False))
    return electrode_mask(currents, measurement, removed), removed


def random_dropout_mask(size: int, rng: np.random.Generator, fraction: tuple[float, float]) -> np.ndarray:
    """(size,) bool: single values dropped at random, a fraction uniform in ``fraction``."""
    p = rng.uniform(*fraction)
    return rng.uniform(size=size) >= p


MASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "electrodes": {"levels": [1, 2, 3, 4, 5, 6, 7], "level_fraction": 0.7, "broken_fraction": 0.25,
                   "broken": [1, 8], "dropout_fraction": 0.05, "dropout": [0.01, 0.2]},
}
MIN_KEPT = 31  # values a drawn mask keeps at least (one injection's worth; fewer are drawn again)
MASK_STREAM = 7_001  # the third key of a sample's mask generator: default_rng([seed, index, MASK_STREAM])


def check_mask_table(table: dict[str, Any]) -> dict[str, Any]:
    """The ``[mask]`` table with defaults filled in; unknown keys and bad values are refused."""
    kind = table.get("type", "none")
    if kind not in MASK_DEFAULTS:
        raise ValueError(f"recipe [mask]: type must be one of {sorted(MASK_DEFAULTS)}, got {kind!r}")
    unknown = sorted(set(table) - set(MASK_DEFAULTS[kind]) - {"type"})
    if unknown:
        raise ValueError(f"recipe [mask]: unknown key(s) {unknown}; known: {sorted(MASK_DEFAULTS[kind])}")
    out = {"type": kind, **MASK_DEFAULTS[kind], **table}
    if kind == "none":
        return out
    fractions = [out[k] for k in ("level_fraction", "broken_fraction", "dropout_fraction")]
    if any(not isinstance(f, (int, float)) or isinstance(f, bool) or not 0 <= f <= 1 for f in fractions) \
            or sum(fractions) > 1 + 1e-12:
        raise ValueError(f"recipe [mask]: level_fraction, broken_fraction, dropout_fraction = {fractions}: "
                         "each in [0, 1], summing to at most 1")
    levels = out["levels"]
    if not isinstance(levels, list) or not levels or any(v not in LEVELS for v in levels):
        raise ValueError(f"recipe [mask]: levels = {levels!r}: a non-empty list of {list(LEVELS)}")
    lo, hi = _pair(out["broken"], "broken", int)
    if not 1 <= lo <= hi:
        raise ValueError(f"recipe [mask]: broken = {out['broken']!r}: 1 <= min <= max electrodes")
    dlo, dhi = _pair(out["dropout"], "dropout", float)
    if not 0 <= dlo <= dhi < 1:
        raise ValueError(f"recipe [mask]: dropout = {out['dropout']!r}: 0 <= min <= max < 1")
    return out


def _pair(value: Any, key: str, kind: type) -> tuple:
    ok = isinstance(value, list) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and (kind is float or float(v).is_integer())
        for v in value)
    if not ok:
        raise ValueError(f"recipe [mask]: {key} = {value!r}: must be [min, max]")
    return kind(value[0]), kind(value[1])


def cem_patterns(op_config: dict[str, Any]) -> tuple[np.ndarray, list[np.ndarray]]:
    """(currents (P, L), measurement matrices, one (k_p, L) per injection) of a CEM operator's
    config (also through a pixel image or a parametrisation around it)."""
    cfg = op_config
    while "currents" not in cfg:
        inner = cfg.get("cem") or cfg.get("inner") or cfg.get("op")
        if not isinstance(inner, dict):
            raise ValueError(f"recipe [mask] type = \"electrodes\" needs a CEM operator, "
                             f"not {cfg.get('type')!r}")
        cfg = inner
    return np.asarray(cfg["currents"]), [np.asarray(m) for m in cfg["measurements"]]


def draw_mask(table: dict[str, Any], patterns: tuple[np.ndarray, list[np.ndarray]], size: int,
              rng: np.random.Generator) -> np.ndarray:
    """(size,) bool, True where sample's value exists, drawn by a checked ``[mask]`` table."""
    if table["type"] == "none":
        return np.ones(size, dtype=bool)
    currents, measurement = patterns
    if table["broken"][1] > currents.shape[1]:
        raise ValueError(f"recipe [mask] broken = {table['broken']}: the operator has only "
                         f"{currents.shape[1]} electrodes")
    for _ in range(100):  # a draw that keeps too little to reconstruct from is drawn again
        mask = _draw_once(table, currents, measurement, size, rng)
        if mask.sum() >= MIN_KEPT:
            return mask
    raise ValueError(f"recipe [mask]: 100 draws in a row kept fewer than {MIN_KEPT} values")


def _draw_once(table: dict[str, Any], currents: np.ndarray, measurement: list[np.ndarray], size: int,
               rng: np.random.Generator) -> np.ndarray:
    u = rng.uniform()
    edges = np.cumsum([table["level_fraction"], table["broken_fraction"], table["dropout_fraction"]])
    if u < edges[0]:
        level = table["levels"][int(rng.integers(len(table["levels"])))]
        return level_mask(currents, measurement, int(level))
    if u < edges[1]:
        return random_electrode_mask(currents, measurement, rng, tuple(table["broken"]))[0]
    if u < edges[2]:
        return random_dropout_mask(size, rng, tuple(table["dropout"]))
    return np.ones(size, dtype=bool)


def fewest_kept(table: dict[str, Any], patterns: tuple[np.ndarray, list[np.ndarray]], size: int,
                draws: int = 2000, quantile: float = 0.01) -> int:
    """The fewest values a sample of the table typically keeps (not a bound: spread-out broken
    electrodes can keep far fewer): the smallest of the levels' counts and the ``quantile`` of
    the kept counts of ``draws`` samples of the random parts (a fixed seed, so a model's limit
    does not change between runs)."""
    if table["type"] == "none":
        return size
    counts = [size]
    if table["level_fraction"] > 0:
        counts += [int(level_mask(*patterns, int(v)).sum()) for v in table["levels"]]
    random_part = {**table, "level_fraction": 0.0}
    if table["broken_fraction"] + table["dropout_fraction"] > 0:
        scale = 1.0 / (table["broken_fraction"] + table["dropout_fraction"])
        random_part.update(broken_fraction=table["broken_fraction"] * scale,
                           dropout_fraction=table["dropout_fraction"] * scale)
        rng = np.random.default_rng(0)
        kept = [int(draw_mask(random_part, patterns, size, rng).sum()) for _ in range(draws)]
        counts.append(int(np.quantile(kept, quantile)))
    return min(counts)

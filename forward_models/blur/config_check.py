"""Checks of a blur operator's config (as read back from a data file or a checkpoint): each key
present and of the type the operator needs, with a one-line message naming the key."""

from __future__ import annotations

from typing import Any

import numpy as np


def config_value(cfg: dict[str, Any], key: str, kind: type, minimum: float | None = None,
                 default: Any = None) -> Any:
    """``cfg[key]`` as an int, a float or a str (``kind``); ``default`` where absent (None:
    required). Raises ValueError naming the key and what was expected."""
    if key not in cfg:
        if default is not None:
            return default
        raise ValueError(f"operator config has no {key!r} (expected {_what(kind, minimum)})")
    value = cfg[key]
    ok = (isinstance(value, str) if kind is str else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value))
    if not ok or (minimum is not None and value < minimum):
        raise ValueError(f"operator config {key!r} = {_show(value)}: expected {_what(kind, minimum)}")
    return kind(value)


def config_array(cfg: dict[str, Any], key: str, shape: tuple[int, ...] | None = None,
                 ndim: int | None = None) -> np.ndarray:
    """``cfg[key]`` as a float64 array of ``shape`` (or of ``ndim`` dimensions)."""
    want = f"{' x '.join(map(str, shape))} array of numbers" if shape else f"{ndim}-D array of numbers"
    if key not in cfg:
        raise ValueError(f"operator config has no {key!r} (expected a {want})")
    try:
        arr = np.asarray(cfg[key])
    except ValueError:  # ragged nested lists
        raise ValueError(f"operator config {key!r}: expected a {want}, got ragged lists") from None
    if arr.dtype.kind not in "iuf":
        got = "text" if arr.dtype.kind in "UO" else f"dtype {arr.dtype}"
        raise ValueError(f"operator config {key!r}: expected a {want}, got {got}")
    if (shape is not None and arr.shape != shape) or (ndim is not None and arr.ndim != ndim):
        raise ValueError(f"operator config {key!r}: expected a {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"operator config {key!r}: expected a {want}, got NaN or Inf")
    return arr.astype(np.float64)


def _what(kind: type, minimum: float | None) -> str:
    name = {int: "an integer", float: "a number", str: "a string"}[kind]
    return name if minimum is None else f"{name} >= {minimum}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

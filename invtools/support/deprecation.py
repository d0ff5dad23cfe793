"""Deprecated names, kept for one release: they work and say what replaces them."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """Issue a ``DeprecationWarning`` that ``old`` will be removed in the next release and
    ``new`` replaces it (``stacklevel`` as in ``warnings.warn``)."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release: use {new}",
                  DeprecationWarning, stacklevel=stacklevel)


def renamed_function(new: Callable, old_name: str) -> Callable:
    """``new`` under its former name ``old_name``, warning on each call."""

    @functools.wraps(new)
    def alias(*args: Any, **kwargs: Any):
        warn_renamed(old_name, new.__name__)
        return new(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated name of :func:`{new.__name__}`."
    return alias


def renamed_keyword(value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of keyword ``new``, or of its deprecated former name ``old`` (with a warning)."""
    if old_value is None:
        return value
    if value is not None:
        raise TypeError(f"pass {new} only ({old} is its deprecated former name)")
    warn_renamed(f"the keyword {old}=", f"{new}=", stacklevel=4)
    return old_value

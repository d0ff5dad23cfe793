"""Checks of user-given numbers: one message naming the setting, the value and what is allowed.

Used by the CLI (as argparse ``type=`` functions) and by :class:`~invtools.training.trainer.TrainConfig`
and the training-config loader, so a bad value never reaches the computation.
"""

from __future__ import annotations

import argparse
import math
from typing import Any


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= minimum (booleans and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} = {value!r}: must be an integer >= {minimum}")
    return value


def check_float(name: str, value: Any, minimum: float = 0.0, *, strict: bool = False,
                maximum: float | None = None) -> float:
    """``value`` as a finite float >= minimum (> minimum if ``strict``), <= maximum if given."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > minimum if strict else value >= minimum)
    ok = ok and (maximum is None or value <= maximum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        if maximum is not None:
            bound += f" and <= {maximum:g}"
        raise ValueError(f"{name} = {value!r}: must be a finite number {bound}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    """``value`` unchanged if it is one of ``choices``, else a ``ValueError`` naming them."""
    if value not in choices:
        raise ValueError(f"{name} = {value!r}: must be one of {list(choices)}")
    return value


def _cli_type(parse, check, what: str):
    def convert(text: str):
        try:
            return check(parse(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None

    convert.__name__ = what  # argparse names the type in its message
    return convert


positive_int = _cli_type(int, lambda v: check_int("value", v, 1), "an integer >= 1")
nonnegative_int = _cli_type(int, lambda v: check_int("value", v, 0), "an integer >= 0")
positive_float = _cli_type(float, lambda v: check_float("value", v, strict=True),
                           "a finite number > 0")
fraction = _cli_type(float, lambda v: check_float("value", v, maximum=1.0),
                     "a finite number in [0, 1]")

"""Types and ranges of recipe values, checked before anything is built from a recipe.

The type of each key follows its default in :mod:`invtools.data.recipes` (a bool, an integer, a
number, a string, a list of strings, or a ``[low, high]`` pair); :data:`RANGES` adds the bounds.
Messages name the table, the key, the value and what is allowed.
"""

from __future__ import annotations

import math
from typing import Any

from invtools.support.validation import check_float, check_int

# (table, key) -> (minimum, strict): numbers (each element of a pair) must be >= / > minimum
RANGES: dict[tuple[str, str], tuple[float, bool]] = {
    ("operator", "electrodes"): (2, False), ("operator", "coverage"): (0.0, True),
    ("operator", "contact_impedance"): (0.0, True), ("operator", "h"): (0.0, True),
    ("operator", "radius"): (0.0, True), ("operator", "n"): (1, False),
    ("operator", "window"): (1, False), ("operator", "stride"): (1, False),
    ("operator", "a"): (0.0, False), ("operator", "sigma"): (0.0, True),
    ("operator", "shape"): (1, False), ("operator", "seed"): (0, False),
    ("phantom", "step"): (0.0, True), ("phantom", "scale"): (0.0, True),
    ("phantom", "n_shapes"): (0, False), ("phantom", "n_discs"): (0, False),
    ("phantom", "radius"): (0.0, True), ("phantom", "values"): (0.0, True),
    ("phantom", "background"): (0.0, True), ("phantom", "width"): (0.0, True),
    ("phantom", "amplitude"): (0.0, False), ("phantom", "n_bumps"): (0, False),
    ("x0", "iterations"): (1, False), ("noise", "relative"): (0.0, False),
    ("operator", "simulation_mesh_size"): (0.0, False), ("operator", "current"): (0.0, True),
    ("phantom", "n_inclusions"): (0, False), ("phantom", "wall"): (0.0, False),
    ("phantom", "cluster"): (0.0, False),
    ("phantom", "size"): (0.0, True),
    ("phantom", "levels"): (0.0, True), ("operator", "semi_axes"): (0.0, True),
    ("operator", "ring_heights"): (0.0, False), ("operator", "height"): (0.0, False),
    ("operator", "electrode_height"): (0.0, False), ("operator", "edge_levels"): (0, False),
    ("phantom", "conductive"): (0.0, True), ("phantom", "resistive"): (0.0, True),
}
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("operator", "boundary"): ("zero", "periodic"), ("operator", "solver"): ("auto", "direct", "amg"),
    ("x0", "prior"): ("laplacian", "tikhonov"),
    ("operator", "domain"): ("disk", "ellipse", "outline", "mesh", "cylinder"),
}
MAXIMA: dict[tuple[str, str], float] = {("operator", "coverage"): 1.0, ("phantom", "wall"): 1.0,
                                             ("phantom", "cluster"): 1.0}
UNORDERED_PAIRS = ("arc", "semi_axes")  # pairs that are not [low, high] ranges
# lists of numbers of any length (not [low, high] pairs)
FREE_LISTS = {("phantom", "levels"), ("operator", "ring_heights")}


def check_table(table: str, values: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Check every value of a merged recipe table against its default's type and the ranges."""
    for key, default in defaults.items():
        name = f"recipe [{table}] {key}"
        value = values[key]
        minimum, strict = RANGES.get((table, key), (-math.inf, False))
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{name} = {value!r}: must be true or false")
        elif isinstance(default, int):
            check_int(name, value, int(max(minimum, -2**62)) + (1 if strict else 0))
        elif isinstance(default, float):
            check_float(name, value, minimum, strict=strict, maximum=MAXIMA.get((table, key)))
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError(f"{name} = {value!r}: must be a string")
            if (table, key) in CHOICES and value not in CHOICES[(table, key)]:
                raise ValueError(f"{name} = {value!r}: must be one of {list(CHOICES[(table, key)])}")
        elif (table, key) in FREE_LISTS:
            if not isinstance(value, list):
                raise ValueError(f"{name} = {value!r}: must be a list of numbers")
            for v in value:
                check_float(name, v, minimum, strict=strict)
        elif isinstance(default, list):
            _check_list(name, value, default, minimum, strict)


def _check_list(name: str, value: Any, default: list, minimum: float, strict: bool) -> None:
    if default and all(isinstance(v, str) for v in default):
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise ValueError(f"{name} = {value!r}: must be a non-empty list of strings")
        return
    integer = bool(default) and all(isinstance(v, int) for v in default)
    if integer and isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]  # a count: n or [low, high]
    if not default and value == []:
        return  # optional pair, e.g. operator.arc
    pair_ok = isinstance(value, list) and len(value) == 2
    if pair_ok:
        for v in value:
            if integer:
                check_int(name, v, int(max(minimum, -2**62)) + (1 if strict else 0))
            else:
                check_float(name, v, minimum, strict=strict)
    if not pair_ok or (value[0] > value[1] and name.split()[-1] not in UNORDERED_PAIRS):
        kind = "integers" if integer else "numbers"
        raise ValueError(f"{name} = {value!r}: must be a pair [low, high] of {kind} with low <= high")

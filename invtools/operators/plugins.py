"""Named plug-ins from package entry points: how invtools finds forward models it does not import.

A package that provides forward models declares them in its ``pyproject.toml``::

    [project.entry-points."invtools.operators"]          # classes, by their config "type"
    MyOperator = "my_package.my_module:MyOperator"
    [project.entry-points."invtools.recipe_operators"]   # recipe [operator] builders
    my_kind = "my_package.recipes:build_my_kind"

and ``pip install`` makes them visible here. invtools itself never imports a concrete forward
model: the built-in ones (``forward_models``) are registered the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

OPERATORS = "invtools.operators"
RECIPE_OPERATORS = "invtools.recipe_operators"


@dataclass(frozen=True)
class RecipeOperator:
    """A recipe ``[operator]`` kind: its keys with their defaults (which also fix each key's
    type, :mod:`invtools.data.recipe_schema`), and how to build the operator from a checked table."""

    defaults: dict[str, Any]
    build: Callable[[dict[str, Any]], Any]


@functools.cache
def _entry_points(group: str) -> tuple[EntryPoint, ...]:
    return tuple(entry_points(group=group))


def names(group: str) -> list[str]:
    """The entry-point names declared in ``group`` by installed packages."""
    return sorted({ep.name for ep in _entry_points(group)})


def load(group: str, name: str) -> Any:
    """The object entry point ``name`` of ``group`` names (imported on first use)."""
    found = [ep for ep in _entry_points(group) if ep.name == name]
    if not found:
        known = names(group)
        hint = "" if known else " (none installed: is invtools installed, e.g. pip install -e .?)"
        raise ValueError(f"no {group!r} plug-in named {name!r}; known: {known}{hint}")
    return found[0].load()

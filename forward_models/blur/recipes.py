"""Recipe ``[operator]`` kinds ``blur1d`` and ``blur2d`` (entry points in ``invtools.recipe_operators``)."""

from __future__ import annotations

from typing import Any

from forward_models.blur.image_blur import ImageBlur2D
from forward_models.blur.quadratic_window import QuadraticWindowBlur
from invtools.operators.plugins import RecipeOperator


def _blur1d(cfg: dict[str, Any]) -> QuadraticWindowBlur:
    return QuadraticWindowBlur(n=cfg["n"], window=cfg["window"], stride=cfg["stride"], a=cfg["a"],
                               seed=cfg["seed"])


def _blur2d(cfg: dict[str, Any]) -> ImageBlur2D:
    return ImageBlur2D(tuple(cfg["shape"]), a=cfg["a"], blur_width=cfg["sigma"],
                       boundary=cfg["boundary"])


blur1d = RecipeOperator({"n": 53, "window": 9, "stride": 4, "a": 2.0, "seed": 0}, _blur1d)
blur2d = RecipeOperator({"shape": [32, 32], "a": 0.5, "sigma": 1.5, "boundary": "zero"}, _blur2d)

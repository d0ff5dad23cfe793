"""Data-set recipes: TOML files that say which forward model, ground truths, noise and initial
guess make up a synthetic data set, and :class:`Problem`, which draws samples from one.

A recipe has top-level ``name``, ``description``, ``parametrization`` (``identity`` or ``log``)
and the tables ``[operator]``, ``[phantom]``, ``[noise]``, ``[x0]`` and optionally ``[mask]``
(missing data: :mod:`invtools.data.missing_data`); every key is checked
against the defaults (below, and the ``[operator]`` kinds' own from their plug-ins), so a typo
is an error that names it. Built-in presets live in
``invtools/presets/*.toml`` (``invtools generate --list``). Sample ``i`` of a data set with
seed ``s`` depends only on ``(s, i)``, so shards, workers and resumed runs give identical data.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from invtools.data.missing_data import MASK_STREAM, cem_patterns, check_mask_table, draw_mask
from invtools.data.phantoms import (
    ball_phantom,
    disc_phantom,
    inclusion_phantom,
    random_balls,
    random_discs,
    random_discs_in,
    random_inclusions,
    random_shapes_image,
    random_walk_signals,
    smooth_field,
    tv_prior_signals,
)
from invtools.data.recipe_schema import check_table
from invtools.operators import Operator, plugins
from invtools.operators.geometry import boundary_loop
from invtools.operators.parametrization import from_net, net_operator, to_net

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRESET_DIR = Path(__file__).parents[1] / "presets"

PHANTOM_DEFAULTS: dict[str, dict[str, Any]] = {
    "random_walk": {"step": 0.1, "low": 0.0, "high": 1.0},
    "tv_walk": {"scale": 0.5},
    "shapes": {"n_shapes": [2, 5], "kinds": ["ellipse", "polygon", "blob"], "levels": []},
    "discs": {"n_discs": [2, 2], "radius": [0.1, 0.3], "values": [0.2, 5.0], "background": 1.0},
    "inclusions": {"n_inclusions": [1, 3], "kinds": ["disc", "polygon", "rectangle", "star"],
                   "size": [0.012, 0.035], "background": 0.8, "conductive": [5.0, 50.0],
                   "resistive": [0.005, 0.05], "wall": 0.0, "cluster": 0.0},
    "smooth": {"n_bumps": 6, "width": [0.2, 0.5], "amplitude": 0.4, "n_discs": [0, 2],
               "radius": [0.1, 0.25], "values": [0.3, 3.0], "background": 1.0},
}
NOISE_DEFAULTS = {"relative": 0.01, "absolute": 0.0}  # std: relative x rms(y), plus absolute (data unit)
X0_DEFAULTS = {"method": "constant", "value": 0.0, "prior": "laplacian", "iterations": 5, "lam": -1.0,
               "clip": 0.0}  # clip > 0: the start's change per unknown, in the network variable, at most clip
X0_METHODS = ("constant", "linearized", "gn")


def _merge(section: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(defaults) - {"type"})
    if unknown:
        raise ValueError(f"recipe [{section}]: unknown key(s) {unknown}; known: {sorted(defaults)}")
    merged = {**copy.deepcopy(defaults), **given}
    check_table(section, merged, defaults)
    return merged


def _typed(section: str, given: Any, table: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(given, dict):
        raise ValueError(f"recipe: [{section}] must be a table")
    kind = given.get("type")
    if kind not in table:
        raise ValueError(f"recipe [{section}]: type must be one of {sorted(table)}, got {kind!r}")
    return {"type": kind, **_merge(section, given, table[kind])}


@dataclass
class Recipe:
    """A validated recipe (all defaults filled in)."""

    name: str
    operator: dict[str, Any]
    phantom: dict[str, Any]
    noise: dict[str, Any] = field(default_factory=lambda: dict(NOISE_DEFAULTS))
    x0: dict[str, Any] = field(default_factory=lambda: dict(X0_DEFAULTS))
    parametrization: str = "identity"
    description: str = ""
    mask: dict[str, Any] = field(default_factory=lambda: {"type": "none"})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """Validate a recipe table (e.g. parsed TOML, or :meth:`to_dict`'s output) and fill in
        the defaults; an unknown key or a bad value is a ``ValueError``."""
        unknown = sorted(set(d) - {"name", "description", "parametrization", "operator", "phantom",
                                   "noise", "x0", "mask"})
        if unknown:
            raise ValueError(f"recipe: unknown top-level key(s) {unknown}")
        for key in ("operator", "phantom"):
            if not isinstance(d.get(key), dict):
                raise ValueError(f"recipe: missing table [{key}]")
        x0 = _merge("x0", d.get("x0", {}), X0_DEFAULTS)
        if x0["method"] not in X0_METHODS:
            raise ValueError(f"recipe [x0]: method must be one of {X0_METHODS}, got {x0['method']!r}")
        noise = _merge("noise", d.get("noise", {}), NOISE_DEFAULTS)
        if not noise["relative"] < 1:
            raise ValueError(f"recipe [noise] relative = {noise['relative']!r}: must be in [0, 1)")
        param = d.get("parametrization", "identity")
        if param not in ("identity", "log"):
            raise ValueError(f"recipe: parametrization must be identity or log, got {param!r}")
        mask = d.get("mask", {"type": "none"})
        if not isinstance(mask, dict):
            raise ValueError("recipe: [mask] must be a table")
        return cls(name=str(d.get("name", "custom")), description=str(d.get("description", "")),
                   operator=_typed("operator", d["operator"], operator_defaults()),
                   phantom=_typed("phantom", d["phantom"], PHANTOM_DEFAULTS), noise=noise, x0=x0,
                   parametrization=param, mask=check_mask_table(mask))

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a dict; a recipe without missing data has no ``mask`` key, so that the
        records and hashes of recipes written without one are unchanged."""
        d = asdict(self)
        if d["mask"]["type"] == "none":
            del d["mask"]
        return d

    def to_json(self) -> str:
        """:meth:`to_dict` as canonical JSON (sorted keys)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def list_presets() -> list[str]:
    """The names of the preset recipes (the TOML files of :data:`PRESET_DIR`), sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A preset name (``blur1d-rma``, ...) or the path of a TOML recipe file.

    A recipe with ``base = "<preset or file>"`` is that recipe with its own tables laid over
    the base's key by key (a table it leaves out is the base's as it is); the result records
    every key, so a data set's recipe never depends on the base file later."""
    return Recipe.from_dict(_recipe_tables(name_or_path, ()))


def _recipe_tables(name_or_path: str | Path, seen: tuple[str, ...]) -> dict[str, Any]:
    """The TOML tables of a recipe, its ``base`` resolved (``seen``: the recipes that name it)."""
    path = Path(name_or_path)
    if not path.exists():
        if str(name_or_path) not in list_presets():
            raise ValueError(f"no recipe file or preset named {str(name_or_path)!r}; presets: "
                             f"{', '.join(list_presets())}")
        path = PRESET_DIR / f"{name_or_path}.toml"
    if str(path.resolve()) in seen:
        raise ValueError(f"{path}: its base recipes name it again ({' -> '.join(seen)})")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a valid TOML recipe ({err})") from None
    operator = data.get("operator")
    for key in FILE_KEYS if isinstance(operator, dict) else ():
        value = operator.get(key)
        if key in NAMED_FILE_KEYS and isinstance(value, str) and not value.endswith(".toml"):
            continue  # a shipped name, not a file
        if isinstance(value, str) and value:  # relative to the recipe's folder
            operator[key] = str((path.resolve().parent / operator[key]).resolve())
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ValueError(f"{path}: base = {base!r} must name a preset or a recipe file")
    base_path = path.resolve().parent / base
    merged = _recipe_tables(base_path if base_path.exists() else base, (*seen, str(path.resolve())))
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            if value.get("type", merged[key].get("type")) == merged[key].get("type"):
                value = {**merged[key], **value}  # a table of another type replaces the base's
        merged[key] = value
    return merged


FILE_KEYS = ("outline", "mesh_file", "description", "reference")  # [operator] keys naming files
NAMED_FILE_KEYS = ("description",)  # a file if it ends in .toml, else a shipped name


# --- building the forward model ------------------------------------------------------------------

def operator_defaults() -> dict[str, dict[str, Any]]:
    """The keys and defaults of every recipe ``[operator]`` kind (from the installed plug-ins,
    e.g. ``blur1d``, ``blur2d``, ``eit`` of ``forward_models``)."""
    return {name: plugins.load(plugins.RECIPE_OPERATORS, name).defaults
            for name in plugins.names(plugins.RECIPE_OPERATORS)}


def build_operator(cfg: dict[str, Any]) -> Operator:
    """The physical forward operator of a checked ``[operator]`` table."""
    return plugins.load(plugins.RECIPE_OPERATORS, cfg["type"]).build(cfg)


def _centroids(op: Operator) -> np.ndarray | None:
    """Where the unknowns of an EIT operator sit (2, n): element centroids of a mesh, pixel
    centres (row-major, row index growing with y) of a pixel image; None for other grids."""
    from invtools.operators.geometry import pixel_grid

    grid = pixel_grid(op)
    if grid is not None:
        n_pixels, extent = grid
        c = (np.arange(n_pixels) + 0.5) / n_pixels * 2 * extent - extent
        x, y = np.meshgrid(c, c)
        return np.stack([x.ravel(), y.ravel()])
    mesh = getattr(op, "mesh", None)
    return None if mesh is None else mesh.p[:, mesh.t].mean(axis=1)


def _count(rng: np.random.Generator, spec) -> int:
    lo, hi = (spec, spec) if isinstance(spec, int) else spec
    return int(rng.integers(lo, hi + 1))


SOLVER_CHOICES = ("auto", "direct", "dense")


def use_solver(op: Operator, solver: str) -> None:
    """Set the linear solver of every CEM operator inside ``op`` (``auto``, ``direct``: sparse
    LU, ``dense``: the batched dense Cholesky on the data's device). A run setting, not part of
    the recipe: every solver gives the same data to rounding."""
    from invtools.operators.composition import operator_parts

    if solver not in SOLVER_CHOICES:
        raise ValueError(f"solver {solver!r}: must be one of {list(SOLVER_CHOICES)}")
    for part in operator_parts(op):
        if hasattr(part, "solver_kind"):
            part.solver_kind = solver


class Problem:
    """A recipe made concrete: operators, sample geometry and a deterministic sampler.

    ``device``: where the forward solves and the linearised x0 run (``"cuda"``: on the GPU, by
    the batched dense Cholesky for meshes of up to 8k unknowns); ``solver`` overrides the
    operators' linear solver (:func:`use_solver`). Neither changes the data beyond rounding.
    """

    def __init__(self, recipe: Recipe, device: str | torch.device = "cpu", solver: str | None = None):
        self.recipe = recipe
        self.device = torch.device(device)
        self.solver = solver
        self.op = build_operator(recipe.operator)
        self.parametrization = recipe.parametrization
        self.net_op = net_operator(self.op, recipe.parametrization)
        self.points = _centroids(self.op)
        # data simulated on a finer mesh than the images live on (no inverse crime), if asked
        fine = float(recipe.operator.get("simulation_mesh_size", 0.0))
        if fine > 0 and self.points is None:
            raise ValueError("recipe [operator] simulation_mesh_size needs a mesh operator")
        if fine > 0 and fine >= recipe.operator["h"]:
            raise ValueError(f"recipe [operator] simulation_mesh_size = {fine}: must be finer than "
                             f"h = {recipe.operator['h']}")
        sim_cfg = {**recipe.operator, "h": fine}
        if "pixels" in sim_cfg:  # simulate on the mesh itself
            sim_cfg["pixels"] = 0
        if "simulation_edge_levels" in sim_cfg:
            sim_cfg["edge_levels"] = sim_cfg["simulation_edge_levels"]
        self.sim_op = build_operator(sim_cfg) if fine > 0 else None
        if solver is not None:
            for op in (self.op, self.sim_op):
                if op is not None:
                    use_solver(op, solver)
        self.sim_points = None if self.sim_op is None else _centroids(self.sim_op)
        self.difference = bool(recipe.operator.get("difference", False))
        if self.difference and "background" not in recipe.phantom:
            raise ValueError("recipe [operator] difference = true needs a phantom with a background")
        self._references: tuple[np.ndarray, np.ndarray] | None = None
        self._patterns: tuple[np.ndarray, list[np.ndarray]] | None = None
        # phantoms on 2-D domains other than the disk are placed inside the outer boundary
        self.boundary, self.scale = None, 1.0
        if recipe.operator.get("domain", "disk") in ("ellipse", "outline", "mesh"):
            self.boundary = self.op.mesh.p[:, boundary_loop(self.op.mesh)]
            self.scale = 0.5 * float(np.ptp(self.boundary, axis=1).max())

    def phantom(self, rng: np.random.Generator, points: np.ndarray | None = None) -> np.ndarray:
        """One ground truth; on a mesh, evaluated at ``points`` (default: the element centroids)."""
        p, shape = self.recipe.phantom, self.op.in_shape
        points = self.points if points is None else points
        if p["type"] == "random_walk":
            return random_walk_signals(1, shape[0], rng, p["step"], p["low"], p["high"])[0]
        if p["type"] == "tv_walk":
            return tv_prior_signals(1, shape[0], rng, p["scale"])[0]
        if p["type"] == "shapes":
            return random_shapes_image(shape, rng, _count(rng, p["n_shapes"]), tuple(p["kinds"]),
                                       tuple(p["levels"]))
        if points is None:
            raise ValueError(f"phantom {p['type']!r} needs a mesh operator (type = 'eit')")
        radius = self.recipe.operator["radius"]
        if p["type"] == "inclusions":
            if self.boundary is not None or points.shape[0] != 2:
                raise ValueError("phantom inclusions is for a 2-D disk domain; use discs or smooth")
            inclusions = random_inclusions(rng, _count(rng, p["n_inclusions"]), radius, tuple(p["size"]),
                                           tuple(p["kinds"]), tuple(p["conductive"]), tuple(p["resistive"]),
                                           wall=float(p["wall"]), cluster=float(p["cluster"]))
            values = inclusion_phantom(points, inclusions, p["background"])
            return values.reshape(shape) if points is self.points else values
        count, sizes, values = _count(rng, p["n_discs"]), tuple(p["radius"]), tuple(p["values"])
        if points.shape[0] == 3:  # a 3-D tank: balls
            balls = random_balls(rng, count, radius, self.recipe.operator["height"], sizes, values)
            if p["type"] == "discs":
                return ball_phantom(points, balls, p["background"])
            inside = ball_phantom(points, balls, 0.0)
        else:
            discs = (random_discs(rng, count, radius, sizes, values) if self.boundary is None
                     else random_discs_in(rng, count, self.boundary, self.scale, sizes, values))
            if p["type"] == "discs":
                return disc_phantom(points, discs, p["background"])
            inside = disc_phantom(points, discs, 0.0)
        log_sigma = smooth_field(points, rng, p["n_bumps"], tuple(p["width"]), p["amplitude"],
                                 radius if self.boundary is None else self.scale)
        sigma = p["background"] * np.exp(log_sigma)
        return np.where(inside > 0, inside, sigma)

    def samples(self, indices: np.ndarray, seed: int) -> dict[str, np.ndarray]:
        """Ground truths ``x``, noisy data ``y`` and initial guesses ``x0`` (physical units)
        of the given global sample indices; each depends only on ``(seed, index)``."""
        rngs = [np.random.default_rng([seed, int(i)]) for i in indices]
        # the same draws, replayed on the simulation mesh (a copy of each generator, taken first)
        replays = [copy.deepcopy(rng) for rng in rngs] if self.sim_op is not None else None
        x = np.stack([self.phantom(rng) for rng in rngs])
        sim_op, sim_x = self.op, x
        if replays is not None:
            sim_op, sim_x = self.sim_op, np.stack([self.phantom(r, self.sim_points) for r in replays])
        with torch.no_grad():  # one sample at a time: batched FFTs round differently
            y = np.concatenate([self._simulate(sim_op, sim_x[k:k + 1]) for k in range(len(x))])
        for k, rng in enumerate(rngs):
            y[k] += self.noise(y[k], rng)
            if self.difference:  # as measured: minus a noisy reference, plus the image model's
                sim_ref, image_ref = self.references()
                y[k] += image_ref - (sim_ref + self.noise(sim_ref, rng))
        out = {"x": x, "y": y}
        if self.recipe.mask["type"] != "none":  # missing values are NaN in y; x0 from the kept ones
            out["mask"] = np.stack([self.draw_mask(np.random.default_rng([seed, int(i), MASK_STREAM]))
                                    for i in indices])
            y[~out["mask"]] = np.nan
        out["x0"] = self.initial_guess(y)
        return out

    def _simulate(self, op: Operator, x: np.ndarray) -> np.ndarray:
        """``op(x)`` on the problem's device, as a host array."""
        return op(torch.as_tensor(x, dtype=torch.float64, device=self.device)).cpu().numpy()

    def draw_mask(self, rng: np.random.Generator) -> np.ndarray:
        """One sample's mask (n_out,) of the values that exist, by the recipe's ``[mask]`` table."""
        if self._patterns is None:
            self._patterns = cem_patterns(self.op.config())
        return draw_mask(self.recipe.mask, self._patterns, self.op.n_out, rng)

    def noise(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One draw of the recipe's noise for data y: std = relative * rms(y) + absolute, plus the
        operator's ``noise_std`` per value where its kind gives one (``device``)."""
        noise = self.recipe.noise
        level = float(noise["relative"]) * np.sqrt(np.mean(y**2)) + float(noise["absolute"])
        device_std = getattr(self.op, "noise_std", None)  # (n_out,): a device's own, if its kind measured it
        if device_std is not None:
            level = level + device_std
        return level * rng.standard_normal(y.shape)

    def references(self) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free data of the background alone on the simulation and the image model
        (``difference = true``: data are ``y - y_ref + A_image(background)``, as a device's
        measurements are corrected with its reference measurement of the background alone)."""
        if self._references is None:
            bg = float(self.recipe.phantom["background"])
            with torch.no_grad():
                image = self._simulate(self.op, np.full((1, *self.op.in_shape), bg))[0]
                sim = image if self.sim_op is None else self._simulate(
                    self.sim_op, np.full((1, *self.sim_op.in_shape), bg))[0]
            self._references = (sim, image)
        return self._references

    def initial_guess(self, y: np.ndarray) -> np.ndarray:
        """``x0`` for data y (B, *out_shape), physical units, by the recipe's ``[x0]`` method."""
        return initial_guess(self.net_op, self.parametrization, self.recipe.x0,
                             float(self.recipe.noise["relative"]), y, device=self.device)


def initial_guess(net_op: Operator, parametrization: str, x0: dict[str, Any], noise_level: float,
                  y: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """Initial guesses (B, *in_shape), physical units, for data ``y`` (B, *out_shape) by an
    ``[x0]`` table: a constant, one linearised step or Gauss-Newton from that constant. The
    linearised step runs on ``device`` (its Jacobian and each mask's factor cached there);
    Gauss-Newton on the host."""
    start = np.full((y.shape[0], *net_op.in_shape), float(x0["value"]))
    if x0["method"] == "constant":
        return start
    from invtools.classical import ClassicalConfig, gauss_newton, linearized_step

    method = "gn" if x0["method"] == "gn" else "linearized"
    ccfg = ClassicalConfig(method=method, prior=x0["prior"], iterations=x0["iterations"],
                           lam=None if x0["lam"] < 0 else x0["lam"], noise_level=noise_level or None)
    s0 = torch.as_tensor(to_net(start, parametrization))
    y = torch.as_tensor(y, dtype=torch.float64)
    if method == "linearized" and ccfg.lam is not None:  # one step from one start: one Jacobian
        s0, y = s0.to(device), y.to(device)
        with torch.no_grad():
            s = s0 + linearized_step(net_op, y - net_op(s0[:1]), s0, ccfg)[0]
        s, s0 = s.cpu(), s0.cpu()
    else:
        s, _ = gauss_newton(net_op, y, s0, ccfg)
    return from_net(clip_step(s, s0, x0).numpy(), parametrization)


def clip_step(s: torch.Tensor, s0: torch.Tensor, x0: dict[str, Any]) -> torch.Tensor:
    """``s`` with its change from ``s0`` (both (B, *in_shape), network variable) clipped at the
    ``[x0]`` table's ``clip`` per unknown (none when ``clip`` is 0 or absent): a log step from few
    data values can otherwise leave float32's range."""
    clip = float(x0.get("clip", 0.0))  # recipes written before the key existed have none
    return s0 + torch.clamp(s - s0, -clip, clip) if clip > 0 else s

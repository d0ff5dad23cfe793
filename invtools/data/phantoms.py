"""Random ground truths for synthetic data sets."""

from __future__ import annotations

import numpy as np


def random_walk_signals(n_samples: int, length: int, rng: np.random.Generator,
                        step: float = 0.1, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Gaussian random walks (n_samples, length) reflected into ``[low, high]``.

    Starts are uniform on the interval and steps N(0, step^2); reflecting at both ends keeps
    the signals non-negative intensities (for ``low >= 0``) with no drift.
    """
    width = high - low
    start = rng.uniform(0.0, width, size=(n_samples, 1))
    walk = np.concatenate([start, start + np.cumsum(
        step * rng.standard_normal((n_samples, length - 1)), axis=1)], axis=1)
    folded = np.mod(walk, 2 * width)
    return low + np.where(folded > width, 2 * width - folded, folded)


def tv_prior_signals(n_samples: int, length: int, rng: np.random.Generator,
                     scale: float = 0.5) -> np.ndarray:
    """Total-variation-prior signals (n_samples, length) scaled to span exactly [-1, 1].

    A random walk with Laplace(0, ``scale``) increments from a N(0, 1) start, kept only if it
    stays positive (rejection sampling), then min-max scaled to [-1, 1]: the 1-D toy signals of
    the RMA paper (Zhou et al. 2024), piecewise smooth with occasional large jumps.
    """
    out = np.empty((0, length))
    while out.shape[0] < n_samples:
        batch = 4 * (n_samples - out.shape[0]) + 64
        start = rng.standard_normal((batch, 1))
        walk = np.concatenate([start, start + np.cumsum(
            rng.laplace(0.0, scale, (batch, length - 1)), axis=1)], axis=1)
        out = np.concatenate([out, walk[(walk > 0).all(axis=1)]])
    out = out[:n_samples]
    lo, hi = out.min(axis=1, keepdims=True), out.max(axis=1, keepdims=True)
    return 2.0 * (out - lo) / (hi - lo) - 1.0


def disc_phantom(points: np.ndarray, discs: list[tuple[float, float, float, float]],
                 background: float = 1.0) -> np.ndarray:
    """Piecewise-constant values at ``points`` (2, n): ``background`` outside the discs and
    ``value`` inside each disc ``(cx, cy, radius, value)`` (later discs on top)."""
    out = np.full(points.shape[1], float(background))
    for cx, cy, r, value in discs:
        out[(points[0] - cx) ** 2 + (points[1] - cy) ** 2 < r**2] = value
    return out


def random_discs(rng: np.random.Generator, n_discs: int, domain_radius: float = 1.0,
                 radius: tuple[float, float] = (0.1, 0.3), values: tuple[float, float] = (0.2, 5.0),
                 margin: float = 0.05, tries: int = 200) -> list[tuple[float, float, float, float]]:
    """``n_discs`` non-overlapping discs ``(cx, cy, r, value)`` inside the disk of
    ``domain_radius``; values log-uniform in ``values`` (both more and less conductive)."""
    discs: list[tuple[float, float, float, float]] = []
    for _ in range(tries):
        if len(discs) == n_discs:
            break
        r = rng.uniform(*radius) * domain_radius
        rho = np.sqrt(rng.uniform()) * (domain_radius * (1 - margin) - r)
        phi = rng.uniform(0, 2 * np.pi)
        c = (rho * np.cos(phi), rho * np.sin(phi))
        if all(np.hypot(c[0] - d[0], c[1] - d[1]) > r + d[2] + margin * domain_radius for d in discs):
            discs.append((c[0], c[1], r, float(np.exp(rng.uniform(*np.log(values))))))
    if len(discs) < n_discs:
        raise ValueError(f"could not place {n_discs} non-overlapping discs; use smaller radii")
    return discs


def random_discs_in(rng: np.random.Generator, n_discs: int, boundary: np.ndarray, scale: float,
                    radius: tuple[float, float] = (0.1, 0.3), values: tuple[float, float] = (0.2, 5.0),
                    margin: float = 0.05, tries: int = 500) -> list[tuple[float, float, float, float]]:
    """``n_discs`` non-overlapping discs ``(cx, cy, r, value)`` inside the polygon ``boundary``
    (2, n) (any 2-D domain), radii ``radius`` times ``scale`` (the domain's size), at least
    ``margin * scale`` from the boundary and from each other; values log-uniform in ``values``."""
    from matplotlib.path import Path as PolygonPath

    polygon = PolygonPath(boundary.T)
    lo, hi = boundary.min(axis=1), boundary.max(axis=1)
    a = boundary
    d = np.roll(boundary, -1, axis=1) - a  # the boundary's segments, a -> a + d
    d2 = np.maximum((d * d).sum(axis=0), 1e-300)

    def clearance(c: np.ndarray) -> float:  # distance from c to the boundary's segments
        t = np.clip(((c[:, None] - a) * d).sum(axis=0) / d2, 0, 1)
        return float(np.linalg.norm(a + t * d - c[:, None], axis=0).min())

    discs: list[tuple[float, float, float, float]] = []
    for _ in range(tries):
        if len(discs) == n_discs:
            break
        r = rng.uniform(*radius) * scale
        c = rng.uniform(lo, hi)
        if not polygon.contains_point(c) or clearance(c) < r + margin * scale:
            continue
        if all(np.hypot(c[0] - d[0], c[1] - d[1]) > r + d[2] + margin * scale for d in discs):
            discs.append((float(c[0]), float(c[1]), r, float(np.exp(rng.uniform(*np.log(values))))))
    if len(discs) < n_discs:
        raise ValueError(f"could not place {n_discs} non-overlapping discs in the domain; use smaller radii")
    return discs


def random_balls(rng: np.random.Generator, n_balls: int, domain_radius: float, height: float,
                 radius: tuple[float, float] = (0.1, 0.3), values: tuple[float, float] = (0.2, 5.0),
                 margin: float = 0.05, tries: int = 500) -> list[tuple[float, ...]]:
    """``n_balls`` non-overlapping balls ``(cx, cy, cz, r, value)`` inside the cylinder of
    ``domain_radius`` and ``height`` (base at z = 0), radii ``radius`` times ``domain_radius``."""
    balls: list[tuple[float, ...]] = []
    for _ in range(tries):
        if len(balls) == n_balls:
            break
        r = rng.uniform(*radius) * domain_radius
        gap = margin * domain_radius
        if 2 * (r + gap) > height:
            continue
        rho = np.sqrt(rng.uniform()) * (domain_radius - r - gap)
        phi = rng.uniform(0, 2 * np.pi)
        c = np.array([rho * np.cos(phi), rho * np.sin(phi), rng.uniform(r + gap, height - r - gap)])
        if all(np.linalg.norm(c - np.array(d[:3])) > r + d[3] + gap for d in balls):
            balls.append((*c.tolist(), r, float(np.exp(rng.uniform(*np.log(values))))))
    if len(balls) < n_balls:
        raise ValueError(f"could not place {n_balls} non-overlapping balls in the tank; use smaller radii")
    return balls


def ball_phantom(points: np.ndarray, balls: list[tuple[float, ...]], background: float = 1.0) -> np.ndarray:
    """Piecewise-constant values at ``points`` (3, n): ``value`` inside each ball
    ``(cx, cy, cz, r, value)``, ``background`` elsewhere."""
    out = np.full(points.shape[1], float(background))
    for cx, cy, cz, r, value in balls:
        out[(points[0] - cx) ** 2 + (points[1] - cy) ** 2 + (points[2] - cz) ** 2 < r**2] = value
    return out


def smooth_field(points: np.ndarray, rng: np.random.Generator, n_bumps: int = 6,
                 width: tuple[float, float] = (0.2, 0.5), amplitude: float = 0.5,
                 scale: float = 1.0) -> np.ndarray:
    """A smooth random function at ``points`` (2, n): a sum of Gaussian bumps of random sign,
    width (times ``scale``, the domain size) and centre; zero mean in expectation."""
    out = np.zeros(points.shape[1])
    for _ in range(n_bumps):
        c = rng.uniform(-scale, scale, size=2)
        w = rng.uniform(*width) * scale
        out += rng.normal(0.0, amplitude) * np.exp(
            -((points[0] - c[0]) ** 2 + (points[1] - c[1]) ** 2) / (2 * w**2))
    return out


def random_shapes_image(shape: tuple[int, int], rng: np.random.Generator, n_shapes: int = 4,
                        kinds: tuple[str, ...] = ("ellipse", "polygon", "blob"),
                        levels: tuple[float, ...] = ()) -> np.ndarray:
    """An image (H, W): random ellipses, convex polygons and smooth blobs, later shapes on top,
    on a zero background; intensities uniform in [0.2, 1], or drawn from ``levels`` (a
    piecewise-constant image with those values and 0: a segmentation problem)."""
    H, W = shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    img = np.zeros(shape)
    for _ in range(n_shapes):
        kind = kinds[rng.integers(len(kinds))]
        cx, cy = rng.uniform(-0.6, 0.6, size=2)
        value = levels[rng.integers(len(levels))] if levels else rng.uniform(0.2, 1.0)
        if kind == "ellipse":
            a, b = rng.uniform(0.1, 0.4, size=2)
            t = rng.uniform(0, np.pi)
            u = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t)
            v = -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
            mask = (u / a) ** 2 + (v / b) ** 2 <= 1
        elif kind == "polygon":
            k = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=k))
            r = rng.uniform(0.15, 0.4)
            px, py = cx + r * np.cos(angles), cy + r * np.sin(angles)
            mask = np.ones(shape, dtype=bool)
            for i in range(k):  # inside every edge's half-plane (counter-clockwise vertices)
                j = (i + 1) % k
                mask &= (px[j] - px[i]) * (yy - py[i]) - (py[j] - py[i]) * (xx - px[i]) >= 0
        elif kind == "blob":
            field = smooth_field(np.stack([xx.ravel(), yy.ravel()]), rng, n_bumps=3,
                                 width=(0.1, 0.25), amplitude=1.0, scale=0.6)
            mask = (np.abs(field) > 0.5).reshape(shape)
        else:
            raise ValueError(f"unknown shape kind {kind!r}; choose ellipse, polygon, blob")
        img[mask] = value
    return img


INCLUSION_KINDS = ("disc", "polygon", "rectangle", "star", "blob", "freehand", "crescent", "heart",
                   "cross", "bar")


def random_inclusions(rng: np.random.Generator, n: int, domain_radius: float,
                      size: tuple[float, float], kinds: tuple[str, ...],
                      conductive: tuple[float, float], resistive: tuple[float, float],
                      margin: float = 0.01, tries: int = 500, wall: float = 0.0,
                      cluster: float = 0.0) -> list[dict]:
    """``n`` non-overlapping inclusions in the disk of ``domain_radius``: shape
    from ``kinds``, circumradius uniform in ``size``, conductive or resistive with equal
    probability, value log-uniform in that class's range. Each is a dict with ``outline``
    (k, 2) vertices (None for a disc), ``centre``, ``radius``, ``value``, ``label`` (1 or 2).

    With probability ``wall`` an inclusion touches the tank's wall: its centre sits between
    0.3 and 1 circumradius inside the wall, so that it is cut by it (the part outside the tank
    does not exist). With probability ``cluster`` (per phantom, when n >= 2) the first inclusion
    is large (the top fifth of ``size``) and the others small (the bottom fifth), each within
    ``2 margin`` of the large one's circumcircle: small objects next to a large one."""
    bad = sorted(set(kinds) - set(INCLUSION_KINDS))
    if bad:
        raise ValueError(f"unknown inclusion kind(s) {bad}; choose from {list(INCLUSION_KINDS)}")
    clustered = cluster > 0 and n >= 2 and rng.uniform() < cluster
    small, large = size
    out: list[dict] = []
    for _ in range(tries):
        if len(out) == n:
            break
        if clustered:
            big = not out
            fifth = 0.2 * (large - small)
            r = rng.uniform(large - fifth, large) if big else rng.uniform(small, small + fifth)
        else:
            r = rng.uniform(*size)
        reach = domain_radius - margin - r
        rho, phi = reach * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
        if wall > 0 and rng.uniform() < wall:
            rho = domain_radius - r * rng.uniform(0.3, 1.0)
        centre = np.array([rho * np.cos(phi), rho * np.sin(phi)])
        if clustered and out:  # beside the large one: a gap of margin to 2 margin
            gap = out[0]["radius"] + r + margin * rng.uniform(1.0, 2.0)
            centre = out[0]["centre"] + gap * np.array([np.cos(phi), np.sin(phi)])
            if np.linalg.norm(centre) > domain_radius - margin - r:
                continue
        if any(np.linalg.norm(centre - o["centre"]) < r + o["radius"] + margin for o in out):
            continue
        kind = kinds[int(rng.integers(len(kinds)))]
        label = int(rng.integers(1, 3))
        lo, hi = conductive if label == 2 else resistive
        out.append({"kind": kind, "centre": centre, "radius": r, "label": label,
                    "value": float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
                    "outline": _outline(kind, r, rng)})
    return out


def _outline(kind: str, r: float, rng: np.random.Generator) -> np.ndarray | None:
    """Vertices (k, 2) of a shape of circumradius ``r`` centred at 0, randomly rotated."""
    turn = rng.uniform(0, 2 * np.pi)
    if kind == "disc":
        return None
    if kind == "rectangle":
        t = rng.uniform(0.3, 1.27)  # aspect angle: half sides r cos t, r sin t
        angles = np.array([t, np.pi - t, np.pi + t, 2 * np.pi - t]) + turn
        radii = np.full(4, r)
    elif kind == "polygon":
        k = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k)) + turn
        radii = r * rng.uniform(0.7, 1.0, k)
    elif kind in ("blob", "freehand"):
        return _wavy_outline(kind, r, rng, turn)
    elif kind in ("crescent", "heart", "cross", "bar"):
        return _rotated(_CURVED[kind](r, rng), turn)
    else:  # star (4 to 6 points; 4 is a cross-like shape)
        k = int(rng.integers(4, 7))
        angles = np.arange(2 * k) * np.pi / k + turn
        radii = np.where(np.arange(2 * k) % 2 == 0, r, r * rng.uniform(0.35, 0.55))
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _rotated(points: np.ndarray, turn: float) -> np.ndarray:
    c, s = np.cos(turn), np.sin(turn)
    return points @ np.array([[c, s], [-s, c]])


def _crescent(r: float, rng: np.random.Generator) -> np.ndarray:
    """The disc of radius r minus a disc of radius rho centred d away on the x axis, with
    d + rho > r (the bite reaches out of the disc): the outer arc, then the bite's arc back."""
    rho, d = r * rng.uniform(0.7, 0.9), r * rng.uniform(0.35, 0.6)
    x = (r * r - rho * rho + d * d) / (2 * d)  # the circles meet at (x, +-y)
    y = np.sqrt(max(r * r - x * x, 0.0))
    alpha, beta = np.arctan2(y, x), np.arctan2(y, x - d)
    outer = np.linspace(alpha, 2 * np.pi - alpha, 64)
    inner = np.linspace(2 * np.pi - beta, beta, 48)
    return np.concatenate([r * np.stack([np.cos(outer), np.sin(outer)], axis=1),
                           np.stack([d + rho * np.cos(inner), rho * np.sin(inner)], axis=1)])


def _heart(r: float, rng: np.random.Generator) -> np.ndarray:
    """The classic heart curve, centred on its bounding box and scaled to circumradius r."""
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    xy = np.stack([16 * np.sin(t) ** 3, y], axis=1)
    xy -= (xy.max(axis=0) + xy.min(axis=0)) / 2
    xy[:, 0] *= rng.uniform(0.85, 1.15)  # wider or narrower
    return xy[::-1] * r / np.linalg.norm(xy, axis=1).max()  # counter-clockwise


def _ellipse_radius(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return a * b / np.sqrt((b * np.cos(t)) ** 2 + (a * np.sin(t)) ** 2)


def _cross(r: float, rng: np.random.Generator) -> np.ndarray:
    """Two crossed ellipses (a plus sign of rounded arms), semi-axes r and 0.15-0.3 r, the
    second arm 0.6-1 times the first's length."""
    t = np.linspace(0, 2 * np.pi, 192, endpoint=False)
    width, second = r * rng.uniform(0.15, 0.3), r * rng.uniform(0.6, 1.0)
    radius = np.maximum(_ellipse_radius(t, r, width), _ellipse_radius(t, width, second))
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _bar(r: float, rng: np.random.Generator) -> np.ndarray:
    """An elongated ellipse: semi-axes r and 0.15-0.35 r."""
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    return np.stack([r * np.cos(t), r * rng.uniform(0.15, 0.35) * np.sin(t)], axis=1)


_CURVED = {"crescent": _crescent, "heart": _heart, "cross": _cross, "bar": _bar}


def _wavy_outline(kind: str, r: float, rng: np.random.Generator, turn: float) -> np.ndarray:
    """A star-shaped closed curve of circumradius ``r``: radius ``1 + sum_k a_k cos(k t + p_k)``
    scaled to max r. ``blob``: smooth (orders 2-4, mostly convex-ish, sometimes kidney-like);
    ``freehand``: hand-drawn-like (orders 2-7 with larger amplitudes, so dents and lobes, plus a
    small jitter of the pen), often non-convex."""
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    orders = np.arange(2, 5) if kind == "blob" else np.arange(2, 8)
    scale = 0.18 if kind == "blob" else 0.32
    amps = scale * rng.uniform(0, 1, orders.size) / np.sqrt(orders - 1)
    phases = rng.uniform(0, 2 * np.pi, orders.size)
    radius = 1 + (amps[:, None] * np.cos(orders[:, None] * t + phases[:, None])).sum(axis=0)
    if kind == "freehand":
        jitter = np.fft.irfft(np.fft.rfft(rng.standard_normal(t.size)) * (np.arange(t.size // 2 + 1) < 12))
        radius += 0.03 * jitter / max(np.abs(jitter).max(), 1e-12)
    radius = np.clip(radius, 0.25, None)
    radius *= r / radius.max()
    angles = t + turn
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def inclusion_phantom(points: np.ndarray, inclusions: list[dict], background: float) -> np.ndarray:
    """Values at ``points`` (2, n): ``background`` outside, each inclusion's value inside it."""
    from matplotlib.path import Path as Outline

    out = np.full(points.shape[1], float(background))
    for inc in inclusions:
        rel = points.T - inc["centre"]
        if inc["outline"] is None:
            inside = (rel**2).sum(axis=1) < inc["radius"] ** 2
        else:
            inside = Outline(inc["outline"]).contains_points(rel)
        out[inside] = inc["value"]
    return out

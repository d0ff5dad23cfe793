"""The spatial structure of an operator's input: the mesh behind element vectors (EIT), or a
regular grid (signals, images). Networks, priors and plots ask here instead of guessing."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import scipy.sparse as sp

from invtools.operators.interface import Operator


def find_mesh(op: Operator):
    """The scikit-fem mesh whose elements are the input entries of ``op`` (or None).

    Looks through compositions (``inner``), so ``log_parametrized(cem)`` finds the CEM mesh;
    a pixel image over a mesh (``PixelCEMForward``) has none: its unknowns are the pixels.
    """
    seen: list[Operator] = [op]
    while seen:
        o = seen.pop()
        mesh = getattr(o, "mesh", None)
        if mesh is not None and tuple(op.in_shape) == tuple(o.in_shape) == (mesh.t.shape[1],):
            return mesh
        seen.extend(getattr(o, name) for name in ("inner", "outer") if hasattr(o, name))
    return None


def pixel_grid(op: Operator) -> tuple[int, float] | None:
    """(pixels per side n, half-width extent in m) when the input of ``op`` is an n x n pixel
    image over [-extent, extent]^2, row index growing with y (an operator with ``n_pixels`` and
    ``extent``, as ``PixelCEMForward``, also inside compositions); else None."""
    seen: list[Operator] = [op]
    while seen:
        o = seen.pop()
        n = getattr(o, "n_pixels", None)
        if n is not None and tuple(op.in_shape) == tuple(o.in_shape) == (n, n):
            return int(n), float(o.extent)
        seen.extend(getattr(o, name) for name in ("inner", "outer") if hasattr(o, name))
    return None


def element_adjacency(elements: np.ndarray) -> sp.csr_matrix:
    """Row-normalised adjacency (ne, ne) of elements sharing a facet: triangles (3, ne) sharing
    an edge, or tetrahedra (4, ne) sharing a face."""
    k, ne = elements.shape
    faces = np.concatenate([np.sort(elements[list(c)], axis=0) for c in combinations(range(k), k - 1)],
                           axis=1)
    owner = np.tile(np.arange(ne), k)
    _, key = np.unique(faces.T, axis=0, return_inverse=True)
    key = key.ravel()
    order = np.argsort(key, kind="stable")
    kk, o = key[order], owner[order]
    shared = np.nonzero(kk[1:] == kk[:-1])[0]
    rows = np.concatenate([o[shared], o[shared + 1]])
    cols = np.concatenate([o[shared + 1], o[shared]])
    A = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(ne, ne))
    deg = np.asarray(A.sum(axis=1)).ravel()
    return sp.diags(1.0 / np.maximum(deg, 1)) @ A


def input_adjacency(op: Operator) -> sp.csr_matrix | None:
    """Row-normalised element adjacency for mesh inputs (graph convolutions, mesh SSIM/TV),
    None for grid inputs."""
    mesh = find_mesh(op)
    return None if mesh is None else element_adjacency(mesh.t)


def boundary_loop(mesh, origin: np.ndarray | None = None) -> np.ndarray:
    """Node indices of the outer boundary, in counter-clockwise order, starting at the node
    nearest ``origin`` (default: where the ray from the centroid along +x leaves the domain)."""
    bf = mesh.facets[:, mesh.boundary_facets()]
    neighbours: dict[int, list[int]] = {}
    for a, b in bf.T:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    loops, seen = [], set()
    for start in neighbours:
        if start in seen:
            continue
        loop, prev, node = [start], None, start
        while True:
            seen.add(node)
            nxt = [n for n in neighbours[node] if n != prev]
            if len(neighbours[node]) != 2:
                raise ValueError(f"the mesh boundary is not a set of closed curves at node {node}")
            prev, node = node, nxt[0]
            if node == start:
                break
            loop.append(node)
        loops.append(np.array(loop))
    p = mesh.p
    loop = max(loops, key=lambda ix: abs(signed_area(p[:, ix])))  # the outer boundary
    if signed_area(p[:, loop]) < 0:
        loop = loop[::-1]
    if origin is None:
        centre = p[:, loop].mean(axis=1)
        rel = p[:, loop] - centre[:, None]
        on_ray = np.abs(np.arctan2(rel[1], rel[0]))
        first = int(np.argmin(on_ray - 1e-9 * np.linalg.norm(rel, axis=0)))
    else:
        first = int(np.argmin(np.linalg.norm(p[:, loop] - np.asarray(origin, float)[:, None], axis=0)))
    return np.roll(loop, -first)


def signed_area(points: np.ndarray) -> float:
    """Signed area of the polygon (2, n): positive when its vertices run counter-clockwise."""
    x, y = points
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _path_differences(n: int) -> sp.csr_matrix:
    return sp.diags([-np.ones(n - 1), np.ones(n - 1)], [0, 1], shape=(n - 1, n)).tocsr()


def difference_matrix(shape: tuple[int, ...], adjacency: sp.spmatrix | None = None) -> sp.csr_matrix:
    """Differences across every neighbour pair (n_pairs, n), n = prod(shape): mesh elements
    sharing an edge (from ``adjacency``), else the 1-D path or the 2-D 4-neighbour grid."""
    if adjacency is not None:
        pairs = sp.triu((sp.csr_matrix(adjacency) + sp.csr_matrix(adjacency).T) > 0, k=1).tocoo()
        k = np.arange(pairs.nnz)
        values, rows = np.r_[np.ones(k.size), -np.ones(k.size)], np.r_[k, k]
        return sp.csr_matrix((values, (rows, np.r_[pairs.col, pairs.row])), shape=(k.size, pairs.shape[0]))
    if len(shape) == 1:
        return _path_differences(shape[0])
    if len(shape) == 2:
        rows, cols = _path_differences(shape[0]), _path_differences(shape[1])
        return sp.vstack([sp.kron(rows, sp.eye(shape[1])), sp.kron(sp.eye(shape[0]), cols)]).tocsr()
    raise ValueError(f"no neighbour structure for samples of shape {shape}")


def smoothness_laplacian(shape: tuple[int, ...], adjacency: sp.spmatrix | None = None) -> sp.csr_matrix:
    """Graph Laplacian (n, n) = D^T D of :func:`difference_matrix`: of the element adjacency for
    mesh inputs, else of the 1-D path or the 2-D 4-neighbour grid. Positive semi-definite,
    constants in its kernel."""
    D = difference_matrix(shape, adjacency)
    return (D.T @ D).tocsr()

"""Greedy decoding: points in the Poincaré ball -> a binary tree as a scipy linkage matrix.

Greedy HypHC decoding merges, bottom-up, the two clusters holding the pair of leaves whose
hyperbolic LCA is deepest: single linkage on the similarity s(i, j) = d_o(e_i ∨ e_j).
Single linkage is the maximum spanning tree (MST) of the complete graph weighted by s,
its edges taken in decreasing order (Kruskal). Three exact methods, none holding n² numbers:

* all leaves on one circle (fixed radius, 2-D): s(i, j) decreases with the angle between
  i and j, so for any i, j that are not angular neighbours, the path i -> ... -> j through
  the points between them uses only edges at least as deep; by the cycle property the MST
  lies inside the n "gap" edges of the angular order. Sort by angle, sort the gaps, union-find.
  O(n log n) time, O(n) memory.
* free radius, 2-D: the Klein model maps geodesics to straight chords and its Euclidean
  norm is monotone in d(0, ·), so s(i, j) is an increasing function of the Euclidean
  distance from the origin to the chord [k_i, k_j] (k = 2x / (1 + |x|²)), which by the
  separating-line theorem is σ(i, j) = max_u min(k_i·u, k_j·u) over unit vectors u.
  Hence i and j are joined at level t (σ ≥ t) iff their arcs {u : k·u ≥ t} overlap; the
  union of all arcs is {u : h(u) ≥ t}, h the support function of the convex hull, so the
  clusters at level t are its arcs (each with the points whose direction lies in it).
  Candidate graph: the m hull edges (v, v') plus, for every point p, the edge to the hull
  vertex v(p) whose normal cone holds p's direction (σ(p, v(p)) = |k_p|, the largest any
  edge of p can have). On any arc of {h ≥ t}, the hull vertices whose cones meet it are
  chained by hull edges with σ ≥ t and every point of that cluster hangs from one of them
  by an edge with σ ≥ t: thresholded at every t, the candidates have the clusters of the
  complete graph, so Kruskal on them is exact. n + m edges, O(n log n) time, O(n) memory.
* anything else (a higher-dimensional ball, or a degenerate hull): Prim's algorithm on the
  complete graph, similarities computed on the fly from each newly attached point to the
  points still outside (vectorised). Exact by the cut property; O(n²) time, O(n) memory.

Output (one representation everywhere): `linkage` (n−1, 4) in scipy's format — row i joins
clusters a and b (leaves 0..n−1, node n+i made by row i) at height h with `size` leaves —
heights monotone; height = D − s where D is the largest leaf depth d(0, e_i), so leaves
sit at 0 and deeper LCAs are lower. `points` (n−1, d): each inner node's LCA point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from infohier_cli.model.hyperbolic import lca_depth, lca_point, origin_distance
from infohier_cli.trees.union_find import UnionFind

FIXED_RADIUS_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Decoded:
    """linkage (n−1, 4) float64 in scipy's format; points (n−1, d) inner-node LCA points."""

    linkage: np.ndarray
    points: np.ndarray


def is_fixed_radius(points: np.ndarray) -> bool:
    """True for 2-D points all at one radius (the angular shortcut applies)."""
    if points.shape[1] != 2 or len(points) < 2:
        return False
    radii = np.linalg.norm(points, axis=1)
    return float(radii.max() - radii.min()) <= FIXED_RADIUS_TOLERANCE * max(1.0, radii.max())


def candidate_edges_circle(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n angular-neighbour edges (i, j) of points on one circle and their depths."""
    order = np.argsort(np.arctan2(points[:, 1], points[:, 0]), kind="stable")
    i, j = order, np.roll(order, -1)
    if len(points) == 2:
        i, j = i[:1], j[:1]
    x = torch.from_numpy(points.astype(np.float64))
    depth = lca_depth(x[i], x[j]).numpy()
    return i, j, depth


def candidate_edges_hull(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Hull edges plus point -> cone-vertex edges of 2-D ball points (see the module
    docstring) -> (i, j), or None when the hull is degenerate (fewer than 3 points, or all
    on one line through the Klein disk)."""
    from scipy.spatial import ConvexHull, QhullError

    klein = 2.0 * points / (1.0 + (points * points).sum(1, keepdims=True))
    try:
        hull = ConvexHull(klein).vertices  # counter-clockwise in 2-D
    except (QhullError, ValueError):
        return None
    following = np.roll(hull, -1)
    step = klein[following] - klein[hull]
    normal_angle = np.arctan2(-step[:, 0], step[:, 1])  # outward normal of edge v -> v'
    order = np.argsort(normal_angle)
    direction = np.arctan2(klein[:, 1], klein[:, 0])
    # the first edge normal at or after a direction closes the cone of that edge's start
    edge = order[np.searchsorted(normal_angle[order], direction) % len(hull)]
    return np.concatenate([hull, np.arange(len(points))]), np.concatenate([following, hull[edge]])


def mst_prim(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum spanning tree of s(i, j) = lca_depth, by Prim with on-the-fly similarities.

    -> (i, j, depth) for its n−1 edges.  O(n²) time, O(n) memory. Each of the n steps is
    a few vector operations over ≤ n points, run on one torch thread: on 2 shared cores
    two threads made 4,000 points take 123 s instead of 5 s (BENCHMARKS.md).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _prim(points)
    finally:
        torch.set_num_threads(threads)


def _prim(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`mst_prim`'s loop."""
    n = len(points)
    x = torch.from_numpy(points.astype(np.float64))
    outside = torch.arange(1, n)  # points not yet in the tree (kept compact)
    best = torch.full((n - 1,), -np.inf, dtype=torch.float64)
    best_from = torch.zeros(n - 1, dtype=torch.long)
    edges_i, edges_j, edges_d = [], [], []
    newest = 0
    for _ in range(n - 1):
        depth = lca_depth(x[newest][None], x[outside])
        better = depth > best
        best = torch.where(better, depth, best)
        best_from = torch.where(better, torch.full_like(best_from, newest), best_from)
        k = int(torch.argmax(best))
        newest = int(outside[k])
        edges_i.append(int(best_from[k]))
        edges_j.append(newest)
        edges_d.append(float(best[k]))
        last = outside.shape[0] - 1
        outside[k], best[k], best_from[k] = outside[last], best[last], best_from[last]
        outside, best, best_from = outside[:last], best[:last], best_from[:last]
    return np.array(edges_i), np.array(edges_j), np.array(edges_d)


def candidate_edges(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (i, j, depth) containing a maximum spanning tree, by the cheapest exact method."""
    if is_fixed_radius(points):
        return candidate_edges_circle(points)
    pairs = candidate_edges_hull(points) if points.shape[1] == 2 else None
    if pairs is None:
        return mst_prim(points)
    i, j = pairs
    keep = i != j
    i, j = i[keep], j[keep]
    x = torch.from_numpy(points)
    return i, j, lca_depth(x[i], x[j]).numpy()


def decode(points: np.ndarray) -> Decoded:
    """Greedy (single-linkage) decoding of (n, d) ball points -> Decoded. n >= 1."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n < 2:
        return Decoded(np.zeros((0, 4)), np.zeros((0, points.shape[1])))
    i, j, depth = candidate_edges(points)
    order = np.lexsort((np.minimum(i, j), -depth))  # deepest first; ties broken by index
    sets = UnionFind(n)
    top = float(origin_distance(torch.from_numpy(points)).max())
    rows = np.zeros((n - 1, 4))
    pairs = np.zeros((n - 1, 2), dtype=np.int64)
    made = 0
    for e in order:
        if made == n - 1:
            break
        a, b = int(i[e]), int(j[e])
        if sets.find(a) == sets.find(b):
            continue
        ca, cb, size = sets.union(a, b, n + made)
        rows[made] = (min(ca, cb), max(ca, cb), max(0.0, top - depth[e]), size)
        pairs[made] = (a, b)
        made += 1
    rows[:, 2] = np.maximum.accumulate(rows[:, 2])  # exact ties may differ by rounding
    x = torch.from_numpy(points)
    inner = lca_point(x[pairs[:, 0]], x[pairs[:, 1]]).numpy()
    return Decoded(rows, inner)

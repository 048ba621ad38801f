"""Greedy decoding against brute-force single linkage on lca_depth, and known trees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infohier_cli.model.hyperbolic import lca_depth, origin_distance
from infohier_cli.trees.disk import candidate_edges, decode, mst_prim
from infohier_cli.trees.tree import Tree


def brute_force_partitions(points: np.ndarray) -> list[frozenset]:
    """Naive O(n³) single linkage on s = lca_depth; every partition along the way."""
    x = torch.from_numpy(points)
    s = lca_depth(x[:, None, :], x[None, :, :]).numpy()
    clusters = [frozenset([i]) for i in range(len(points))]
    seen = [frozenset(clusters)]
    while len(clusters) > 1:
        best, pair = -np.inf, None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                value = max(s[i, j] for i in clusters[a] for j in clusters[b])
                if value > best:
                    best, pair = value, (a, b)
        a, b = pair
        merged = clusters[a] | clusters[b]
        clusters = [c for k, c in enumerate(clusters) if k not in pair] + [merged]
        seen.append(frozenset(clusters))
    return seen


def decoded_partitions(points: np.ndarray) -> list[frozenset]:
    tree = Tree([str(i) for i in range(len(points))], decode(points).linkage)
    out = []
    for k in range(len(points), 0, -1):
        labels = tree.cut(k, min_size=1)  # the plain cut: every level of the tree
        out.append(frozenset(frozenset(np.flatnonzero(labels == c).tolist()) for c in range(k)))
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("mode", ["fixed", "free"])
def test_matches_brute_force_single_linkage(seed: int, mode: str):
    rng = np.random.default_rng(seed)
    n = 40
    angles = rng.uniform(0, 2 * np.pi, n)
    radius = np.full(n, 0.9) if mode == "fixed" else rng.uniform(0.05, 0.97, n)
    points = np.stack([np.cos(angles), np.sin(angles)], 1) * radius[:, None]
    assert decoded_partitions(points) == brute_force_partitions(points)


def _free_radius_points(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "half-plane":  # the origin lies outside the convex hull
        return np.stack([rng.uniform(0.2, 0.6, n), rng.uniform(-0.5, 0.5, n)], 1)
    if kind == "clusters":
        centres = rng.normal(size=(4, 2))
        centres *= 0.8 / np.linalg.norm(centres, axis=1, keepdims=True)
        points = centres[rng.integers(4, size=n)] + 0.05 * rng.normal(size=(n, 2))
        return points * np.minimum(1.0, 0.97 / np.linalg.norm(points, axis=1, keepdims=True))
    return np.array([0.9, 0.1]) + 0.01 * rng.normal(size=(n, 2))  # a tiny far patch


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["half-plane", "clusters", "patch"])
def test_free_radius_hull_candidates_match_brute_force(seed: int, kind: str):
    points = _free_radius_points(kind, 30, np.random.default_rng(seed))
    assert decoded_partitions(points) == brute_force_partitions(points)


def test_free_radius_hull_candidates_give_prims_tree():
    rng = np.random.default_rng(11)
    points = rng.normal(size=(600, 2))
    points *= rng.uniform(0.01, 0.97, (600, 1)) / np.linalg.norm(points, axis=1, keepdims=True)
    i, _, _ = candidate_edges(points)
    assert len(i) <= 2 * len(points)  # O(n) candidates, not n²
    assert np.allclose(np.sort(decode(points).linkage[:, 2]), np.sort(decode_with_prim(points)))


def decode_with_prim(points: np.ndarray) -> np.ndarray:
    """Heights Prim's complete-graph tree gives (same height convention as decode)."""
    _, _, depth = mst_prim(points)
    top = float(origin_distance(torch.from_numpy(points)).max())
    return top - depth


def test_free_radius_three_dimensions():
    rng = np.random.default_rng(7)
    points = rng.normal(size=(25, 3))
    points *= rng.uniform(0.1, 0.95, (25, 1)) / np.linalg.norm(points, axis=1, keepdims=True)
    assert decoded_partitions(points) == brute_force_partitions(points)


def test_hand_placed_disk_decodes_to_known_tree():
    # three pairs of close points at angles 0, 120, 240 degrees; 4 and 5 nearer the origin
    angles = np.radians([0, 5, 120, 126, 240, 250])
    radius = np.array([0.95, 0.95, 0.95, 0.95, 0.95, 0.95])
    points = np.stack([np.cos(angles), np.sin(angles)], 1) * radius[:, None]
    tree = Tree(list("abcdef"), decode(points).linkage)
    pairs = [0, 0, 1, 1, 2, 2]  # the partition; ids follow the tree's leaf order
    assert len(set(zip(tree.cut(3).tolist(), pairs, strict=True))) == 3
    rows = decode(points).linkage
    assert np.all(np.diff(rows[:, 2]) >= 0)
    assert rows[-1, 3] == 6


def test_linkage_is_valid_for_scipy_and_heights_monotone():
    from scipy.cluster.hierarchy import is_valid_linkage

    rng = np.random.default_rng(3)
    points = rng.normal(size=(200, 2))
    points *= rng.uniform(0.1, 0.97, (200, 1)) / np.linalg.norm(points, axis=1, keepdims=True)
    decoded = decode(points)
    assert is_valid_linkage(decoded.linkage)
    assert decoded.points.shape == (199, 2)
    assert np.all(np.linalg.norm(decoded.points, axis=1) < 1)


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_inputs(n: int):
    decoded = decode(np.array([[0.5, 0.1], [-0.2, 0.4]])[:n])
    assert decoded.linkage.shape == (n - 1, 4)
    if n == 2:
        assert decoded.linkage[0].tolist()[:2] == [0, 1] and decoded.linkage[0, 3] == 2

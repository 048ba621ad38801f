"""The diffusion tree: Ward on a diffusion map of the latents' nearest-neighbour graph."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage

from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.trees import diffusion
from infohier_cli.trees.diffusion import diffusion_linkage, diffusion_map, neighbour_graph
from infohier_cli.trees.latent import latent_linkage
from infohier_cli.trees.tree import Tree


def rings(n_per_ring: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric noisy rings lifted onto a plane away from the origin, so the latents'
    L2 normalisation keeps their shape: a class that is a long thin region, which Ward
    on the raw latents cuts across and a neighbour graph follows."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, 2 * n_per_ring)
    labels = np.repeat([0, 1], n_per_ring)
    radius = np.where(labels == 0, 1.0, 2.0) + 0.05 * rng.normal(size=2 * n_per_ring)
    plane = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return np.hstack([plane, np.full((2 * n_per_ring, 1), 8.0)]), labels


def purity(rows: np.ndarray, labels: np.ndarray) -> float:
    return dendrogram_purity(Tree([str(i) for i in range(len(labels))], rows), labels)


def test_rings_are_recovered_where_ward_on_the_latents_cuts_across_them():
    points, labels = rings()
    rows = diffusion_linkage(points)
    assert is_valid_linkage(rows) and is_monotonic(rows) and rows[-1, 3] == len(points)
    top = Tree([str(i) for i in range(len(points))], rows).cut(2)
    assert len(set(zip(top.tolist(), labels.tolist(), strict=True))) == 2  # the two rings
    assert purity(rows, labels) > 0.95 > purity(latent_linkage(points), labels) + 0.1


def test_lanczos_above_the_dense_limit_gives_the_dense_solvers_tree(monkeypatch):
    points, labels = rings(100, seed=1)
    dense = diffusion_map(points)
    monkeypatch.setattr(diffusion, "DENSE_MAX", 50)
    lanczos = diffusion_map(points)
    # the same eigenpairs up to each vector's sign: the same pairwise distances
    gap = np.abs(
        np.linalg.norm(dense[:, None] - dense[None], axis=2)
        - np.linalg.norm(lanczos[:, None] - lanczos[None], axis=2)
    )
    assert gap.max() < 1e-6 * np.abs(dense).max()
    assert np.array_equal(diffusion_linkage(points), diffusion_linkage(points))  # deterministic
    assert purity(diffusion_linkage(points), labels) > 0.95


def test_graph_is_symmetric_with_k_neighbours_each_and_no_self_loops():
    points, _ = rings(40)
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    graph = neighbour_graph(unit, 5).toarray()
    assert np.allclose(graph, graph.T)
    assert np.all(np.diag(graph) == 0)
    assert np.all((graph > 0).sum(axis=1) >= 5)
    assert np.all((graph >= 0) & (graph <= 1))


@pytest.mark.parametrize("n", [2, 3, 5, 12])
def test_tiny_and_duplicate_inputs_give_a_valid_tree(n):
    rng = np.random.default_rng(n)
    points = rng.normal(size=(n, 6))
    points[n // 2 :] = points[0]  # half of the rows are copies of the first
    rows = diffusion_linkage(points)
    assert rows.shape == (n - 1, 4) and np.isfinite(rows).all()
    assert is_valid_linkage(rows) and is_monotonic(rows)
    assert diffusion_linkage(points[:1]).shape == (0, 4)


def test_a_constant_folder_gives_a_tree_of_zero_heights():
    rows = diffusion_linkage(np.ones((20, 8)))
    assert is_valid_linkage(rows) and np.allclose(rows[:, 2], 0.0)

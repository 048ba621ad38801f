"""The diffusion tree: Ward on a diffusion map of the latents' nearest-neighbour graph."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage

from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.trees import diffusion
from infohier_cli.trees.diffusion import (
    diffusion_linkage,
    diffusion_map,
    neighbour_count,
    neighbour_graph,
)
from infohier_cli.trees.latent import latent_linkage
from infohier_cli.trees.tree import Tree


def spiral_arms(n_per_arm: int = 100, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved noisy spiral arms, lifted onto a plane away from the origin so the
    latents' L2 normalisation keeps their shape: classes that are long thin regions, which
    Ward on the raw latents cuts across and a neighbour graph follows."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.linspace(0.3, 3.0, n_per_arm), 2)
    labels = np.repeat([0, 1], n_per_arm)
    turn = t * 2.2 + np.pi * labels
    plane = np.stack([t * np.cos(turn), t * np.sin(turn)], axis=1)
    plane += 0.03 * rng.normal(size=plane.shape)
    return np.hstack([plane, np.full((len(plane), 1), 8.0)]), labels


def purity(rows: np.ndarray, labels: np.ndarray) -> float:
    return dendrogram_purity(Tree([str(i) for i in range(len(labels))], rows), labels)


def test_spiral_arms_are_recovered_where_ward_on_the_latents_cuts_across_them():
    """Two interleaved arms, each a long thin region of one connected neighbour graph
    (k = 10: with fewer neighbours the arms are two parts of the graph)."""
    from scipy.sparse.csgraph import connected_components

    points, labels = spiral_arms()
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    assert connected_components(neighbour_graph(unit, 10), directed=False)[0] == 1
    rows = diffusion_linkage(points, 10)
    assert is_valid_linkage(rows) and is_monotonic(rows) and rows[-1, 3] == len(points)
    top = Tree([str(i) for i in range(len(points))], rows).cut(2)
    assert len(set(zip(top.tolist(), labels.tolist(), strict=True))) == 2  # the two arms
    assert purity(rows, labels) > 0.95 > purity(latent_linkage(points), labels) + 0.3


def same_points(found: np.ndarray, dense: np.ndarray) -> bool:
    """The same eigenpairs up to each vector's sign: the same pairwise distances."""
    gap = np.abs(
        np.linalg.norm(dense[:, None] - dense[None], axis=2)
        - np.linalg.norm(found[:, None] - found[None], axis=2)
    )
    return bool(gap.max() < 1e-6 * np.abs(dense).max())


def spiral_graph():
    """The spiral arms' 10-neighbour graph: 200 rows, above a lowered DENSE_MAX of 50."""
    points, _ = spiral_arms()
    return neighbour_graph(points / np.linalg.norm(points, axis=1, keepdims=True), 10)


def test_lanczos_above_the_dense_limit_gives_the_dense_solvers_points(monkeypatch):
    points, _ = spiral_arms()
    graph = spiral_graph()
    dense = diffusion_map(graph)
    monkeypatch.setattr(diffusion, "DENSE_MAX", 50)
    lanczos = diffusion_map(graph)
    assert same_points(lanczos, dense)
    assert np.array_equal(diffusion_linkage(points), diffusion_linkage(points))  # deterministic


@pytest.mark.parametrize("failures", [1, 2])
def test_lanczos_that_does_not_converge_is_retried_then_solved_densely(monkeypatch, failures):
    """Lanczos failing once: the wider retry answers and the dense solver is not called;
    failing twice: the dense solver answers. Either way the points are the dense
    solver's (up to each vector's sign)."""
    import scipy.sparse.linalg as sparse_linalg

    graph = spiral_graph()
    dense = diffusion_map(graph)
    real_eigsh, real_dense = sparse_linalg.eigsh, diffusion.dense_top_eigenpairs
    calls, dense_calls = [], []

    def flaky(*args, **kwargs):
        calls.append(kwargs["ncv"])
        if len(calls) <= failures:
            raise sparse_linalg.ArpackNoConvergence("no convergence", np.zeros(0), None)
        return real_eigsh(*args, **kwargs)

    def counted_dense(matrix, m):
        dense_calls.append(matrix.shape)
        return real_dense(matrix, m)

    monkeypatch.setattr(sparse_linalg, "eigsh", flaky)
    monkeypatch.setattr(diffusion, "dense_top_eigenpairs", counted_dense)
    monkeypatch.setattr(diffusion, "DENSE_MAX", 50)
    found = diffusion_map(graph)
    assert calls[0] is None and calls[1] > 0 and len(calls) == 2  # default, then wider
    assert len(dense_calls) == failures - 1
    assert same_points(found, dense)


def test_neighbour_count_grows_with_the_folder_within_its_bounds():
    assert [neighbour_count(n) for n in (2, 24, 100, 200, 400, 10_000)] == [3, 3, 5, 7, 10, 10]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_groups_of_four_images_are_kept_apart(seed):
    """12 groups of 4: ten neighbours each would cross into other groups (the walk mixes
    them); the folder-size rule takes 3."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(12), 4)
    points = rng.normal(size=(12, 8))[labels] + 0.35 * rng.normal(size=(48, 8))
    points = np.hstack([points, np.full((48, 1), 6.0)])
    assert purity(diffusion_linkage(points), labels) > 0.94
    assert purity(diffusion_linkage(points), labels) > purity(diffusion_linkage(points, 10), labels)


def test_disconnected_parts_are_ordered_by_the_latents():
    """Three tight groups, far apart in the neighbour graph (no edges between them): the
    two groups that are closer in the latents are joined first, each group's own tree
    stays inside it."""
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0, 8.0], [0.6, 0.0, 8.0], [6.0, 6.0, 8.0]])
    labels = np.repeat([0, 1, 2], 30)
    points = centres[labels] + 0.02 * rng.normal(size=(90, 3))
    rows = diffusion_linkage(points)
    assert is_valid_linkage(rows) and is_monotonic(rows)
    tree = Tree([str(i) for i in range(90)], rows)
    assert len(set(zip(tree.cut(3).tolist(), labels.tolist(), strict=True))) == 3
    top = tree.cut(2)
    assert top[0] == top[30] != top[60]  # groups 0 and 1 together, group 2 apart
    inside = max(rows[rows[:, 3] <= 30, 2])
    assert np.all(rows[rows[:, 3] > 30, 2] >= inside)  # the groups join above their insides


def test_graph_is_symmetric_with_k_neighbours_each_and_no_self_loops():
    points, _ = spiral_arms(20)
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

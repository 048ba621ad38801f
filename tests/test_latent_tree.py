"""The latent tree: exact Ward for small n, the anchored approximation for large n."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage, linkage

from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.trees.latent import latent_linkage, normalise
from infohier_cli.trees.tree import Tree


def blobs(n: int, k: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(k, size=n)
    return rng.normal(size=(k, 32))[labels] + spread * rng.normal(size=(n, 32)), labels


def test_small_n_is_scipys_ward_on_normalised_latents():
    points, _ = blobs(200, 4, 0.5, 0)
    assert np.allclose(latent_linkage(points), linkage(normalise(points), method="ward"))


def test_normalise_centres_and_scales_rows():
    unit = normalise(np.random.default_rng(1).normal(3.0, 2.0, size=(50, 8)))
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0)
    assert abs(unit.mean()) < 0.2


def test_anchored_tree_is_a_valid_monotone_linkage_over_every_leaf():
    points, labels = blobs(3000, 6, 0.4, 2)
    rows = latent_linkage(points, exact_max=500, anchors=150)
    assert rows.shape == (2999, 4)
    assert is_valid_linkage(rows) and is_monotonic(rows)
    assert rows[-1, 3] == 3000
    tree = Tree([str(i) for i in range(3000)], rows)
    assert sorted(tree.leaf_order().tolist()) == list(range(3000))
    assert dendrogram_purity(tree, labels) > 0.95  # well-separated blobs are recovered


def test_anchored_tree_is_deterministic():
    points, _ = blobs(1000, 3, 0.8, 3)
    first = latent_linkage(points, exact_max=100, anchors=64)
    assert np.array_equal(first, latent_linkage(points, exact_max=100, anchors=64))


def test_more_anchors_than_latents_still_gives_a_tree():
    points, _ = blobs(50, 2, 0.5, 4)
    rows = latent_linkage(points, exact_max=10, anchors=1000)
    assert is_valid_linkage(rows) and rows[-1, 3] == 50

"""The latent tree: exact Ward for small n, the cell tree (k-means cells, Ward inside and
between them) for large n, and the Ward linkages it is built from."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage, linkage
from scipy.spatial.distance import pdist

from infohier_cli.evaluate.metrics import dendrogram_purity
from infohier_cli.trees import latent
from infohier_cli.trees.latent import latent_linkage, normalise
from infohier_cli.trees.tree import Tree
from infohier_cli.trees.ward import condensed_distances, ward, weighted_ward


def blobs(n: int, k: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(k, size=n)
    return rng.normal(size=(k, 32))[labels] + spread * rng.normal(size=(n, 32)), labels


def assert_tree_over_every_leaf(rows: np.ndarray, n: int) -> None:
    assert rows.shape == (n - 1, 4)
    assert is_valid_linkage(rows) and is_monotonic(rows)
    assert rows[-1, 3] == n
    tree = Tree([str(i) for i in range(n)], rows)
    assert sorted(tree.leaf_order().tolist()) == list(range(n))


def test_small_n_is_scipys_ward_on_normalised_latents():
    points, _ = blobs(200, 4, 0.5, 0)
    assert np.allclose(latent_linkage(points), linkage(normalise(points), method="ward"))


def test_normalise_centres_and_scales_rows():
    unit = normalise(np.random.default_rng(1).normal(3.0, 2.0, size=(50, 8)))
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0)
    assert abs(unit.mean()) < 0.2
    single = normalise(np.random.default_rng(1).normal(3.0, 2.0, size=(50, 8)), dtype=np.float32)
    assert single.dtype == np.float32 and np.allclose(single, unit, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_condensed_distances_are_scipys_pdist(dtype):
    points = np.random.default_rng(5).normal(size=(300, 40)).astype(dtype)
    assert np.allclose(condensed_distances(points), pdist(points.astype(np.float64)), atol=1e-5)
    assert np.allclose(ward(points), linkage(points.astype(np.float64), method="ward"), atol=1e-5)


def test_weighted_ward_is_ward_over_the_repeated_points():
    """Reference: exact Ward over each mean repeated `size` times first joins the copies
    at height 0, then builds the weighted tree over the means."""
    rng = np.random.default_rng(6)
    means, sizes = rng.normal(size=(30, 5)), rng.integers(1, 6, size=30)
    repeated = linkage(np.repeat(means, sizes, axis=0), method="ward")
    rows = weighted_ward(means, sizes)  # column 3 counts points, not leaves
    assert np.all(np.diff(rows[:, 2]) >= 0) and rows[-1, 3] == sizes.sum()
    np.testing.assert_allclose(rows[:, 2:], repeated[-29:, 2:], atol=1e-9)
    assert np.allclose(weighted_ward(means, np.ones(30)), linkage(means, method="ward"))


def test_cell_tree_is_a_valid_monotone_linkage_over_every_leaf():
    points, labels = blobs(3000, 6, 0.4, 2)
    rows = latent_linkage(points, exact_max=500)
    assert_tree_over_every_leaf(rows, 3000)
    assert dendrogram_purity(Tree([str(i) for i in range(3000)], rows), labels) > 0.99


def test_cell_tree_matches_exact_ward_on_well_separated_clusters():
    """Blobs far apart: every cell lies inside one blob, so the cell tree has the same
    clusters as exact Ward at every cut down to the blobs."""
    points, labels = blobs(1200, 8, 0.05, 7)
    exact = Tree([str(i) for i in range(1200)], latent_linkage(points))
    cells = Tree([str(i) for i in range(1200)], latent_linkage(points, exact_max=0, cells=40))
    assert_tree_over_every_leaf(cells.linkage, 1200)
    for k in range(1, 9):
        same = np.unique(np.stack([exact.cut(k), cells.cut(k)]), axis=1).shape[1]
        assert same == k  # identical partitions (up to cluster names)
    assert dendrogram_purity(cells, labels) == 1.0


@pytest.mark.parametrize("cells", [1, 300])
def test_one_cell_or_one_row_per_cell_is_exact_ward(cells):
    """One cell: its Ward tree (float32 distances); one row per cell: the weighted tree."""
    points, _ = blobs(300, 3, 0.6, 8)
    exact = linkage(normalise(points, dtype=np.float32).astype(np.float64), method="ward")
    rows = latent_linkage(points, exact_max=0, cells=cells)
    np.testing.assert_array_equal(rows[:, [0, 1, 3]], exact[:, [0, 1, 3]])
    np.testing.assert_allclose(rows[:, 2], exact[:, 2], rtol=1e-5)


def test_cell_tree_is_deterministic():
    points, _ = blobs(1000, 3, 0.8, 3)
    first = latent_linkage(points, exact_max=100)
    assert np.array_equal(first, latent_linkage(points, exact_max=100))


def test_crowded_cells_of_repeated_rows_are_split_again(monkeypatch):
    """A cell above CELL_MAX (here 40; 300 copies of one image) is halved until small."""
    monkeypatch.setattr(latent, "CELL_MAX", 40)
    rng = np.random.default_rng(9)
    points = np.vstack([np.ones((300, 8)), rng.normal(size=(200, 8))])
    rows = latent_linkage(points, exact_max=0, cells=4)
    assert_tree_over_every_leaf(rows, 500)


def test_split_crowded_halves_only_large_cells_and_keeps_them_apart():
    points, labels = blobs(900, 3, 0.05, 10)
    unit = normalise(points, dtype=np.float32)
    cell = np.where(labels == 2, 1, 0)  # blobs 0 and 1 share cell 0
    split = latent.split_crowded(unit, cell, most=400)  # cell 0: 611 rows, cell 1: 289
    assert np.bincount(split).max() <= 400 and split.max() == 2
    for blob in range(3):  # the crowded cell is cut between its two blobs
        assert len(np.unique(split[labels == blob])) == 1
    assert latent.halve(np.ones((6, 3), dtype=np.float32)).tolist() == [0, 0, 0, 1, 1, 1]


def test_more_cells_than_latents_still_gives_a_tree():
    points, _ = blobs(50, 2, 0.5, 4)
    assert_tree_over_every_leaf(latent_linkage(points, exact_max=10, cells=1000), 50)

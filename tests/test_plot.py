"""The Poincaré-disk picture: a non-empty PNG with a legend, colours and positions from the
drawn tree (clusters are sectors, neighbours differ in colour), and a clear error without
coordinates for the disk layout."""

from __future__ import annotations

import numpy as np
import pytest

from infohier_cli.embeddings import Embeddings
from infohier_cli.errors import UserError
from infohier_cli.report.plot import cluster_colours, node_positions, plot_disk, tree_layout
from infohier_cli.trees.registry import disk_tree
from infohier_cli.trees.tree import Tree


def disk_points(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = rng.uniform(0.3, 0.9, n)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)


def test_plot_writes_a_non_empty_png(tmp_path):
    points = disk_points(30)
    tree = disk_tree(Embeddings([f"img{i}.png" for i in range(30)], None, points))
    plot_disk(tree, tmp_path / "disk.png", k=4)
    data = (tmp_path / "disk.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000


def test_inner_nodes_sit_nearer_the_origin_than_their_children():
    points = disk_points(12, seed=1)
    tree = disk_tree(Embeddings([str(i) for i in range(12)], None, points))
    positions = node_positions(tree)
    radii = np.linalg.norm(positions, axis=1)
    for row, (a, b) in enumerate(tree.children()):
        assert radii[12 + row] <= min(radii[a], radii[b]) + 1e-9


def test_plot_without_coordinates_is_a_user_error(tmp_path):
    tree = Tree(["a", "b"], np.array([[0, 1, 1.0, 2]]))
    with pytest.raises(UserError, match="--plot needs leaf coordinates"):
        plot_disk(tree, tmp_path / "x.png", layout="disk")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("kind", ["disk", "single"])
def test_tree_layout_makes_each_cluster_one_sector_and_neighbours_differ_in_colour(kind):
    """Also for single linkage on random points, whose cuts keep many late strays in the
    cluster they joined (`Tree.cut_in_leaf_order` turns those merges)."""
    if kind == "disk":
        tree = disk_tree(Embeddings([str(i) for i in range(60)], None, disk_points(60, seed=2)))
    else:
        from scipy.cluster.hierarchy import linkage

        points = np.random.default_rng(4).normal(size=(200, 2))
        tree = Tree([str(i) for i in range(200)], linkage(points, "single"))
    for k in (3, 7, 25):
        clusters, order = tree.cut_in_leaf_order(k)
        assert np.array_equal(clusters, tree.cut(k))
        assert sorted(order.tolist()) == list(range(tree.n))
        angle = np.arctan2(*tree_layout(tree, order)[:, ::-1].T) % (2 * np.pi)
        around = clusters[np.argsort(angle)]  # cluster ids going round the circle
        assert (np.diff(around) != 0).sum() == k - 1  # each cluster one run: a sector
        colour = cluster_colours(clusters, order) % 20
        changes = np.flatnonzero(np.diff(around))
        assert all(colour[around[i]] != colour[around[i + 1]] for i in changes)


def test_plot_has_a_legend_and_needs_no_embeddings_in_the_tree_layout(tmp_path):
    import xml.etree.ElementTree as ElementTree

    from typer.testing import CliRunner

    from infohier_cli.cli import app

    tree = tmp_path / "t.nwk"
    tree.write_text("(((a:1,b:1):1,(c:1,d:1):1):1,((e:1,f:1):1,g:2):1);\n")
    svg = tmp_path / "disk.svg"
    result = CliRunner().invoke(app, ["export", str(tree), "--plot", str(svg), "--cut", "3",
                                      "--out", str(tmp_path / "c.csv")])  # fmt: skip
    assert result.exit_code == 0, result.output
    root = ElementTree.parse(svg).getroot()
    ids = [e.get("id") or "" for e in root.iter()]
    assert any(i.startswith("legend") for i in ids)
    bad = CliRunner().invoke(app, ["export", str(tree), "--plot", str(svg), "--plot-layout", "disk",
                                   "--embeddings", str(tmp_path / "none.npz")])  # fmt: skip
    assert bad.exit_code == 2 and bad.stderr.startswith("error: ")

"""The Poincaré-disk picture: a non-empty PNG, and a clear error without coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from infohier_cli.embeddings import Embeddings
from infohier_cli.errors import UserError
from infohier_cli.report.plot import node_positions, plot_disk
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
        plot_disk(tree, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()

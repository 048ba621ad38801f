"""`export --cut auto`: the gap and silhouette criteria find a known number of clusters."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.errors import UserError
from infohier_cli.trees.cut_auto import choose_k, height_gaps, k_range, parse_cuts, silhouette
from infohier_cli.trees.tree import Tree


def blobs(k: int, per: int = 12, dim: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """k well-separated Gaussian blobs; -> (points (k*per, dim), labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (k, dim))
    labels = np.repeat(np.arange(k), per)
    return centres[labels] + rng.normal(0, 0.3, (k * per, dim)), labels


def ward_tree(points: np.ndarray) -> Tree:
    return Tree([f"img {i}.png" for i in range(len(points))], linkage(points, "ward"))


def slow_silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Rousseeuw's definition, one point at a time."""
    values = []
    for i in range(len(labels)):
        own = [j for j in range(len(labels)) if labels[j] == labels[i] and j != i]
        if not own:
            values.append(0.0)
            continue
        a = np.mean(distance[i, own])
        b = min(np.mean(distance[i, labels == c]) for c in set(labels.tolist()) if c != labels[i])
        values.append((b - a) / max(a, b))
    return float(np.mean(values))


@pytest.mark.parametrize("k", [3, 5])
def test_gap_finds_the_known_number_of_blobs(k: int):
    points, _ = blobs(k)
    chosen = choose_k(ward_tree(points), "gap")
    assert chosen.k == k
    assert f"k={k}" in chosen.reason and "gap" in chosen.reason


@pytest.mark.parametrize("k", [3, 5])
def test_silhouette_finds_the_known_number_of_blobs(k: int):
    points, _ = blobs(k)
    assert choose_k(ward_tree(points), "silhouette", latent=points).k == k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_silhouette_matches_the_slow_reference(seed: int):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(15, 3))
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    labels = rng.integers(0, 4, 15)
    labels[0] = 3  # make sure of a singleton-or-more mix
    labels = np.unique(labels, return_inverse=True)[1]
    assert silhouette(distance, labels) == pytest.approx(slow_silhouette(distance, labels))


def test_gap_is_the_relative_jump_between_kept_and_undone_merges():
    heights = np.array([1.0, 1.0, 2.0, 8.0])  # n = 5
    # k=2 undoes row 3 (8) and keeps row 2 (2): (8 - 2) / 8
    assert height_gaps(heights, [2, 3]) == pytest.approx([0.75, 0.5])
    assert k_range(5) == [2] and k_range(100) == list(range(2, 11))


def test_parse_cuts():
    assert parse_cuts(["4", "auto", "AUTO"]) == [4, "auto", "auto"]
    for bad in ("0", "x", "-3", "2.5"):
        with pytest.raises(UserError):
            parse_cuts([bad])


def test_cli_cut_auto_reports_k_and_writes_it(tmp_path: Path):
    points, _ = blobs(4)
    tree = ward_tree(points)
    (tmp_path / "t.nwk").write_text(tree.to_newick(), encoding="utf-8")
    save_embeddings(tmp_path / "e.npz", Embeddings(tree.names, points, points[:, :2] / 100))
    runner = CliRunner()
    cuts = ["--cut", "auto", "--cut", "2", "--cut", "4", "--cut", "2"]  # k4 and k2 twice each
    result = runner.invoke(app, ["export", str(tmp_path / "t.nwk"), *cuts])
    assert result.exit_code == 0, result.output
    assert "cut auto: k=4" in result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["path", "k4", "k2"] and len(rows) == 1 + len(points)
    result = runner.invoke(
        app,
        ["export", str(tmp_path / "t.nwk"), "--cut", "auto", "--auto-criterion", "silhouette",
         "--embeddings", str(tmp_path / "e.npz")],
    )  # fmt: skip
    assert result.exit_code == 0 and "k=4" in result.stderr and "silhouette" in result.stderr
    result = runner.invoke(app, ["export", str(tmp_path / "t.nwk"), "--cut", "many"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1

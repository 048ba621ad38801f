"""`export --dendrogram`: the truncated tree as PNG or SVG, sizes and thumbnails under its
leaves, the medoid by latent similarity, and one-line errors."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from conftest import make_folder
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.report.dendrogram import central_first, members, scipy_linkage
from infohier_cli.training.similarity import normalise, pair_similarity
from infohier_cli.trees.files import write_tree
from infohier_cli.trees.registry import latent_tree


def tree_with_images(tmp_path: Path, per_class: int = 5, classes: int = 8):
    """An image folder, its embeddings (latents by class) and a Newick tree over it."""
    images = make_folder(tmp_path / "images", per_class=per_class, classes=classes)
    ids = sorted(str(p.relative_to(images)) for p in images.rglob("*.png"))
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, 8))
    latent = np.stack([centres[int(i[1])] + 0.1 * rng.normal(size=8) for i in ids])
    disk = rng.uniform(-0.5, 0.5, (len(ids), 2))
    emb = Embeddings(ids, latent.astype(np.float32), disk.astype(np.float32))
    save_embeddings(tmp_path / "emb.npz", emb)
    write_tree(latent_tree(emb), tmp_path / "tree.nwk", "newick")
    return images, tmp_path / "emb.npz", tmp_path / "tree.nwk"


def test_central_first_puts_the_brute_force_medoid_first():
    rng = np.random.default_rng(3)
    unit = normalise(rng.normal(size=(40, 6)))
    leaves = [3, 7, 11, 19, 23, 31, 38]
    distance = [
        sum(1 - pair_similarity(unit, np.array([i]), np.array([j]))[0] for j in leaves)
        for i in leaves
    ]
    assert central_first(leaves, unit)[0] == leaves[int(np.argmin(distance))]
    assert central_first(leaves, None) == leaves


def test_scipy_linkage_counts_sizes_and_members_cover_each_subtree():
    from infohier_cli.trees.tree import Tree

    tree = Tree(list("abcd"), np.array([[0, 1, 0.5, 0], [2, 3, 0.2, 0], [4, 5, 1.0, 0]]))
    assert scipy_linkage(tree)[:, 3].tolist() == [2, 2, 4]
    assert members(tree, 6) == [0, 1, 2, 3] and members(tree, 5) == [2, 3]


def test_dendrogram_png_and_svg_with_thumbnails(tmp_path: Path):
    images, emb, tree = tree_with_images(tmp_path)
    runner = CliRunner()
    png, svg = tmp_path / "d.png", tmp_path / "d.svg"
    common = ["--images", str(images), "--embeddings", str(emb), "--dendrogram-leaves", "8"]
    result = runner.invoke(app, ["export", str(tree), "--dendrogram", str(png), *common])
    assert result.exit_code == 0, result.output
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000
    result = runner.invoke(app, ["export", str(tree), "--dendrogram", str(svg), *common])
    assert result.exit_code == 0, result.output
    root = ElementTree.parse(svg).getroot()
    assert root.tag.endswith("svg")
    thumbnails = [e for e in root.iter() if e.tag.endswith("image")]
    assert len(thumbnails) == 8  # one under each of the 8 clusters
    # without images: sizes only (the label texts are paths in the SVG; no <image>)
    result = runner.invoke(app, ["export", str(tree), "--dendrogram", str(svg)])
    assert result.exit_code == 0, result.output
    assert not [e for e in ElementTree.parse(svg).getroot().iter() if e.tag.endswith("image")]
    assert not list(tmp_path.glob(".*.tmp"))


def test_dendrogram_of_a_tree_without_heights_or_images(tmp_path: Path):
    tree = tmp_path / "t.nwk"
    tree.write_text("((a,b),(c,(d,e)));\n")
    result = CliRunner().invoke(app, ["export", str(tree), "--dendrogram", str(tmp_path / "d.svg")])
    assert result.exit_code == 0, result.output
    assert ElementTree.parse(tmp_path / "d.svg").getroot().tag.endswith("svg")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dendrogram", "{tmp}/d.gif"], "--dendrogram"),
        (["--dendrogram", "{tmp}/d"], "--dendrogram"),
        (["--dendrogram", "{tmp}/d.png", "--images", "{tmp}/nowhere"], "--images"),
    ],
)
def test_dendrogram_bad_input_is_one_line_error(tmp_path: Path, args, message):
    tree = tmp_path / "t.nwk"
    tree.write_text("((a,b),c);\n")
    args = [a.format(tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, ["export", str(tree), *args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1
    assert not list(tmp_path.glob("d*"))

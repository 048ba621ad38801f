"""`export --folders OUT --cut K`: one folder per cluster, links or copies, odd names."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import linkage
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.trees.tree import Tree

NAMES = [
    "plate 1/it's a cell.png",
    "plate 1/b.png",
    "plaque é/naïve 細胞.png",
    'plaque é/"quoted" (1).png',
    "x.png",
    "y.png",
]


def setup(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    for i, name in enumerate(NAMES):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).write_bytes(bytes([i]) * 10)
    points = np.array([[0.0], [0.1], [5.0], [5.1], [10.0], [10.1]])
    tree_file = tmp_path / "tree.nwk"
    tree_file.write_text(Tree(NAMES, linkage(points, "ward")).to_newick(), encoding="utf-8")
    return images, tree_file


def invoke(*args):
    return CliRunner().invoke(app, ["export", *map(str, args)])


def read_manifest(out: Path) -> dict[str, str]:
    with open(out / "clusters.csv", newline="", encoding="utf-8") as handle:
        return {row["path"]: row["cluster"] for row in csv.DictReader(handle)}


def test_links_by_default_and_odd_names_survive(tmp_path: Path):
    images, tree_file = setup(tmp_path)
    out = tmp_path / "clusters"
    result = invoke(tree_file, "--cut", "3", "--folders", out, "--images", images)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # no CSV on stdout when only --folders is asked
    assert sorted(p.name for p in out.iterdir()) == ["c0", "c1", "c2", "clusters.csv"]
    manifest = read_manifest(out)
    cut = csv.DictReader(io.StringIO(invoke(tree_file, "--cut", "3", "--out", "-").stdout))
    assert {row["path"]: f"c{row['k3']}" for row in cut} == manifest  # CSV's numbers
    assert set(manifest) == set(NAMES)
    for i, name in enumerate(NAMES):
        link = out / manifest[name] / name.replace("/", "__")
        assert link.is_symlink() and link.read_bytes() == bytes([i]) * 10
    assert manifest[NAMES[0]] == manifest[NAMES[1]] != manifest[NAMES[2]]


def test_copy_refuse_and_overwrite(tmp_path: Path):
    images, tree_file = setup(tmp_path)
    out = tmp_path / "clusters"
    assert invoke(tree_file, "--cut", "2", "--folders", out, "--images", images).exit_code == 0
    again = invoke(tree_file, "--cut", "3", "--folders", out, "--images", images, "--copy")
    assert again.exit_code == 2 and again.stderr.startswith("error: ")
    assert again.stderr.count("\n") == 1 and "not empty" in again.stderr
    result = invoke(
        tree_file, "--cut", "3", "--folders", out, "--images", images, "--copy", "--overwrite"
    )
    assert result.exit_code == 0, result.output
    files = [p for p in out.rglob("*.png")]
    assert len(files) == len(NAMES) and not any(p.is_symlink() for p in files)
    assert not list(tmp_path.glob(".clusters*"))  # no staging left behind


def test_bad_inputs_are_one_line(tmp_path: Path):
    images, tree_file = setup(tmp_path)
    out = tmp_path / "clusters"
    for args in (
        [tree_file, "--cut", "2", "--folders", out],  # no --images
        [tree_file, "--folders", out, "--images", images],  # no --cut
        [tree_file, "--cut", "2", "--folders", out, "--images", tmp_path / "nope"],
        [tree_file, "--cut", "2", "--folders", out, "--images", tmp_path],  # wrong folder
        [tree_file, "--cut", "2", "--folders", images / "c", "--images", images],  # inside
    ):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not out.exists() and not (images / "c").exists()


def test_ids_that_flatten_alike_keep_every_image_and_out_gets_cp_permissions(tmp_path: Path):
    images = tmp_path / "images"
    names = ["x/y.png", "x__y.png", "z.png", "x/y~2.png"]
    for i, name in enumerate(names):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).write_bytes(bytes([i]) * 10)
    tree_file = tmp_path / "tree.nwk"
    points = np.array([[0.0], [0.1], [0.2], [0.3]])
    tree_file.write_text(Tree(names, linkage(points, "ward")).to_newick(), encoding="utf-8")
    out = tmp_path / "clusters"
    result = invoke(tree_file, "--cut", "1", "--folders", out, "--images", images, "--copy")
    assert result.exit_code == 0, result.output
    with open(out / "clusters.csv", newline="", encoding="utf-8") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    files = [rows[name]["file"] for name in names]
    assert files == ["x__y.png", "x__y~3.png", "z.png", "x__y~2.png"]
    for i, name in enumerate(names):
        assert (out / rows[name]["cluster"] / rows[name]["file"]).read_bytes() == bytes([i]) * 10
    mask = os.umask(0)
    os.umask(mask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~mask


def test_names_the_file_system_refuses_and_leaves_that_are_folders_are_one_line(tmp_path: Path):
    images = tmp_path / "images"
    deep = f"{'a' * 150}/{'b' * 150}.png"  # flattened: one 302-byte name, over the usual 255
    names = [deep, "x.png", "y.png", "z.png"]
    for i, name in enumerate(names):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (images / name).write_bytes(bytes([i]) * 10)
    (images / "folder.png").mkdir()
    points = np.array([[0.0], [0.1], [5.0], [5.1]])
    out = tmp_path / "clusters"
    for leaves, expected in (
        (names, "File name too long"),
        ([*names[1:], "folder.png"], "not files"),
    ):
        tree_file = tmp_path / "tree.nwk"
        tree_file.write_text(Tree(leaves, linkage(points, "ward")).to_newick(), encoding="utf-8")
        result = invoke(tree_file, "--cut", "2", "--folders", out, "--images", images, "--copy")
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert expected in result.stderr and ".tmp" not in result.stderr
        assert not out.exists() and not list(tmp_path.glob(".clusters*"))

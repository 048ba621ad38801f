"""Files other tools read: every CSV/TSV output has LF line endings and gives back any name
exactly; the `--labels id` map survives any name; ete3 reads the Newick."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest
from conftest import TINY_TRAIN, make_folder
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.tables import TableWriter
from infohier_cli.trees.tree import Tree

HOSTILE = [
    "plain.png",
    "a,b.png",
    'say "hi".png',
    "it's.png",
    "tab\there.png",
    "new\nline.png",
    "carriage\rreturn.png",
    "both\r\nends.png",
    " (spaces): [x]; é.png",
    "",
]


def read_table(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def read_text(path) -> str:
    """The file's text with its line ends as written (read_text would turn CRs into LFs)."""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_table_writer_gives_back_any_field_with_lf_line_ends(delimiter):
    buffer = io.StringIO(newline="")
    writer = TableWriter(buffer, delimiter)
    writer.writerow(["path", "k2", "d"])
    writer.writerows([name, 3, 0.25] for name in HOSTILE)
    writer.writerow([""])
    text = buffer.getvalue()
    rows = read_table(text, delimiter)
    assert rows == [["path", "k2", "d"], *([n, "3", "0.25"] for n in HOSTILE), [""]]
    # a line ends in LF alone: CRs left are those inside quoted names
    assert text.count("\r\n") == sum("\r\n" in n for n in HOSTILE)
    assert text.startswith(f"path{delimiter}k2{delimiter}d\n")


CPU = ["--device", "cpu"]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.slow
def test_every_csv_output_has_lf_line_ends_and_exact_names(tmp_path):
    images = make_folder(tmp_path / "images", per_class=3)
    odd = ['c0/a,b "q".png', "c1/tab\tx.png", "c2/cr\rx.png", "c2/nl\nx.png"]
    for i, name in enumerate(odd):
        shutil.copy(images / f"c{i % 3}" / "img0.png", images / name)
    (images / "broken\r.png").write_bytes(b"not an image")
    run = tmp_path / "run"
    result = invoke("train", images, "--run", run, *TINY_TRAIN, "--epochs", "1", "--width", "4")
    assert result.exit_code == 0, result.output
    assert invoke("tree", "--run", run, "--out", tmp_path / "t.nwk").exit_code == 0
    assert (
        invoke("tree", "--run", run, "--out", tmp_path / "i.nwk", "--labels", "id").exit_code == 0
    )
    commands = {
        "cuts.csv": ["export", tmp_path / "t.nwk", "--cut", 2, "--out", tmp_path / "cuts.csv"],
        "emb.csv": ["embed", images, "--run", run, "--out", tmp_path / "emb.csv", *CPU],
        "near.csv": [
            "assign",
            images,
            "--run",
            run,
            "--tree",
            tmp_path / "t.nwk",
            "--cut",
            2,
            "--out",
            tmp_path / "near.csv",
            *CPU,
        ],  # fmt: skip
        "folders/clusters.csv": [
            "export",
            tmp_path / "t.nwk",
            "--cut",
            2,
            "--folders",
            tmp_path / "folders",
            "--images",
            images,
        ],  # fmt: skip
    }
    for name, command in commands.items():
        result = invoke(*command)
        assert result.exit_code == 0, (name, result.output)
    tables = {name: "," for name in commands} | {"i.nwk.ids.tsv": "\t"}
    for name, delimiter in tables.items():
        text = read_text(tmp_path / name)
        assert "\r\n" not in text, name
        column = [row[-1 if name.endswith(".tsv") else 0] for row in read_table(text, delimiter)]
        assert set(odd) <= set(column), name
    skipped = read_text(run / "skipped.txt")
    assert [row[0] for row in read_table(skipped, "\t")] == ["broken\r.png"]
    ids = read_table(read_text(tmp_path / "i.nwk.ids.tsv"), "\t")
    leaves = Tree.from_newick(read_text(tmp_path / "i.nwk")).names
    assert ids[0] == ["id", "path"] and sorted(r[0] for r in ids[1:]) == sorted(leaves)
    # without a file there is nowhere to put the id map: refused, before any work
    result = invoke("tree", "--run", run, "--out", "-", "--labels", "id")
    assert result.exit_code == 2 and result.stderr.startswith("error: --labels id needs a file")


def test_ete3_reads_the_newick():
    ete3 = pytest.importorskip(
        "ete3", reason="ete3 is not in the test extra: 3.1.3 does not import without six"
    )
    linkage = np.array([[0, 1, 1.0, 2], [2, 3, 1.5, 2], [4, 5, 4.0, 4]])
    plain = ["c0/img0.png", "c0/img1.png", "c1/x-1.png", "c1/y.2.png"]
    read = ete3.Tree(Tree(plain, linkage).to_newick())  # ete3's default settings
    assert [leaf.name for leaf in read.get_leaves()] == plain
    assert [round(leaf.dist, 6) for leaf in read.get_leaves()] == [1.0, 1.0, 1.5, 1.5]
    assert read.get_distance(read.get_leaves()[0], read.get_leaves()[3]) == pytest.approx(8.0)
    # names that need quotes: ete3 reads them exactly with quoted_node_names=True (README)
    odd = ["a b.png", "c(d):e,f;.png", "A01_s1.tif", "tab\tnl\n é.png"]
    read = ete3.Tree(Tree(odd, linkage).to_newick(), quoted_node_names=True)
    assert [leaf.name for leaf in read.get_leaves()] == odd

"""The command line as a user drives it: help, errors, and train -> tree -> export -> embed."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from Bio import Phylo
from conftest import TINY_TRAIN, make_folder
from PIL import Image
from typer.testing import CliRunner

from infohier_cli import __version__
from infohier_cli.cli import app
from infohier_cli.config import TrainConfig
from infohier_cli.embeddings import Embeddings, save_embeddings

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_help_lists_commands_and_version():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("train", "embed", "tree", "export"):
        assert command in result.output
    assert invoke("--version").output.strip() == f"infohier {__version__}"
    for command in ("train", "embed", "tree", "export"):
        assert invoke(command, "--help").exit_code == 0


def test_help_does_not_import_torch():
    code = "import sys; from infohier_cli.cli import app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("problem", ["missing", "file", "empty"])
def test_bad_folder_is_one_line_exit_2(tmp_path: Path, problem: str):
    target = tmp_path / "images"
    if problem == "file":
        target.write_text("x")
    elif problem == "empty":
        target.mkdir()
    result = invoke("train", target, "--run", tmp_path / "run")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_bad_checkpoint_and_missing_embeddings_are_one_line(tmp_path: Path, image_folder):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = invoke("embed", image_folder, "--run", tmp_path / "run")
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    result = invoke("tree", "--run", tmp_path / "nowhere", "--out", tmp_path / "t.nwk")
    assert result.exit_code == 2 and "no embeddings file" in result.stderr
    assert not (tmp_path / "t.nwk").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_works_before_and_after_the_command(tmp_path: Path, where: str):
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(6, 4))
    ids = [f"img{i}.png" for i in range(6)]
    save_embeddings(tmp_path / "e.npz", Embeddings(ids, latent, latent[:, :2] / 10))
    command = ["tree", "--embeddings", tmp_path / "e.npz", "--out", tmp_path / "t.nwk"]
    assert "tree over 6 images" in invoke(*command).stderr
    quiet = ["-q", *command] if where == "before" else [*command, "-q"]
    result = invoke(*quiet)
    assert result.exit_code == 0 and result.stderr == ""
    assert "tree over 6 images" in invoke(*command).stderr  # quiet does not stick
    if where == "after":  # the setting after the command wins
        assert "tree over 6 images" in invoke("-q", *command, "--no-quiet").stderr


@pytest.mark.slow
def test_pipeline_end_to_end(tmp_path: Path):
    folder = make_folder(tmp_path / "my images", per_class=4)
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(folder / "c0" / "it's (odd).png")
    (folder / "c1" / "broken.png").write_bytes(b"\x89PNG garbage")
    run = tmp_path / "run"
    result = invoke("train", folder, "--run", run, *TINY_TRAIN)
    assert result.exit_code == 0, result.output
    assert "broken.png" in result.stderr
    assert (run / "skipped.txt").read_text().startswith("c1/broken.png\t")
    assert {"checkpoint.pt", "embeddings.npz", "train_log.jsonl"} <= {p.name for p in run.iterdir()}
    expected = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*.png") if p.name != "broken.png"
    )

    assert invoke("tree", "--run", run, "--out", tmp_path / "tree.nwk").exit_code == 0
    parsed = Phylo.read(tmp_path / "tree.nwk", "newick")
    assert sorted(t.name for t in parsed.get_terminals()) == expected

    assert invoke("tree", "--run", run, "--out", tmp_path / "tree.json").exit_code == 0
    assert json.loads((tmp_path / "tree.json").read_text())["n_leaves"] == len(expected)
    assert (
        invoke("tree", "--run", run, "--source", "disk", "--out", tmp_path / "disk.nwk").exit_code
        == 0
    )

    result = invoke("tree", "--run", run, "--out", "-")
    assert result.exit_code == 0 and result.stdout.endswith(";\n")

    result = invoke("tree", "--run", run, "--labels", "id", "--out", tmp_path / "ids.nwk")
    assert result.exit_code == 0
    ids = (tmp_path / "ids.nwk.ids.tsv").read_text().splitlines()
    assert ids[0] == "id\tpath" and len(ids) == len(expected) + 1

    result = invoke(
        "export",
        tmp_path / "tree.nwk",
        "--cut",
        2,
        "--cut",
        3,
        "--out",
        tmp_path / "cuts.csv",
        "--plot",
        tmp_path / "disk.png",
        "--embeddings",
        run / "embeddings.npz",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO((tmp_path / "cuts.csv").read_text(encoding="utf-8"))))
    assert rows[0] == ["path", "k2", "k3"] and len(rows) == len(expected) + 1
    assert {r[2] for r in rows[1:]} == {"0", "1", "2"}
    assert (tmp_path / "disk.png").stat().st_size > 10_000

    assert invoke("export", tmp_path / "tree.json", "--out", tmp_path / "back.nwk").exit_code == 0
    again = Phylo.read(tmp_path / "back.nwk", "newick")
    assert sorted(t.name for t in again.get_terminals()) == expected

    new = make_folder(tmp_path / "new", per_class=1)
    result = invoke("embed", new, "--run", run, "--out", "-", "--device", "cpu")
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.stdout)))
    ball = [f"x{i}" for i in range(TrainConfig().ball_dim)]
    assert table[0] == ["path", *ball] and len(table) == 4

    result = invoke("train", folder, "--run", run, *TINY_TRAIN)
    assert result.exit_code == 2 and "--resume" in result.stderr
    result = invoke("train", folder, "--run", run, *TINY_TRAIN[:1], "3", "--resume")
    assert result.exit_code == 0, result.output

"""`infohier assign`: exact nearest training images by the latent similarity, and clusters."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN, make_folder
from typer.testing import CliRunner

from infohier_cli import assign as assign_module
from infohier_cli.assign import Index, nearest, place
from infohier_cli.cli import app
from infohier_cli.training.similarity import cosine_to_weight


def slow_nearest(index_latent: np.ndarray, query_latent: np.ndarray, k: int):
    """Distances 1 − w one pair at a time, centred on the index mean, sorted."""
    m = index_latent.mean(axis=0)
    out = []
    for q in query_latent:
        qc = (q - m) / np.linalg.norm(q - m)
        d = []
        for t in index_latent:
            tc = (t - m) / np.linalg.norm(t - m)
            d.append(1.0 - cosine_to_weight(float(qc @ tc)))
        order = np.argsort(d, kind="stable")[:k]
        out.append((order, np.array(d)[order]))
    return out


@pytest.mark.parametrize("chunk", [1 << 24, 7])
def test_nearest_matches_the_slow_reference(monkeypatch, chunk: int):
    monkeypatch.setattr(assign_module, "CHUNK_CELLS", chunk)
    rng = np.random.default_rng(0)
    index_latent, queries = rng.normal(size=(40, 6)), rng.normal(size=(9, 6))
    index = Index.from_latents([f"t{i}" for i in range(40)], index_latent)
    rows, dist = nearest(index.unit, index.units(queries), 4)
    for (ref_rows, ref_d), got_rows, got_d in zip(
        slow_nearest(index_latent, queries, 4), rows, dist, strict=True
    ):
        assert list(got_rows) == list(ref_rows)
        assert got_d == pytest.approx(ref_d, abs=1e-5)


def test_a_training_point_finds_itself_and_its_cluster():
    rng = np.random.default_rng(1)
    latent = rng.normal(size=(20, 5))
    index = Index.from_latents([f"t{i}" for i in range(20)], latent)
    labels = np.arange(20) % 3
    placement = place(["q"], latent[[7]], index, 3, {3: labels})
    assert placement.neighbours[0, 0] == 7 and placement.distances[0, 0] == pytest.approx(
        0, abs=1e-6
    )
    assert placement.clusters[3][0] == labels[7]
    assert nearest(index.unit, index.units(latent[:2]), 50)[0].shape == (2, 20)  # k > N


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("assign")
    images = make_folder(root / "images", per_class=4)
    args = [*TINY_TRAIN, "--epochs", "1", "--run", str(root / "run")]
    assert CliRunner().invoke(app, ["train", str(images), *args]).exit_code == 0
    tree = root / "tree.nwk"
    result = CliRunner().invoke(app, ["tree", "--out", str(tree), "--run", str(root / "run")])
    assert result.exit_code == 0, result.output
    new = root / "new images é"
    (new / "sub").mkdir(parents=True)
    shutil.copy(images / "c1" / "img2.png", new / "sub" / "it's c1.png")
    shutil.copy(images / "c2" / "img0.png", new / "c2 copy.png")
    return root


def test_cli_assign_csv_and_json(trained: Path):
    runner = CliRunner()
    base = ["assign", str(trained / "new images é"), "--run", str(trained / "run")]
    args = [*base, "--tree", str(trained / "tree.nwk"), "--cut", "3", "--cut", "2", "-k", "3"]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["path", "k2", "k3", "nn1", "d1", "nn2", "d2", "nn3", "d3"]
    found = {row[0]: row for row in rows[1:]}
    assert (
        found["sub/it's c1.png"][3] == "c1/img2.png" and float(found["sub/it's c1.png"][4]) < 1e-4
    )
    assert found["c2 copy.png"][3] == "c2/img0.png"
    out = trained / "placed.json"
    result = runner.invoke(app, [*args, "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"placed {len(found)} images -> {out}"]  # no bar
    records = json.loads(out.read_text(encoding="utf-8"))
    assert {r["path"] for r in records} == set(found)
    assert set(records[0]["clusters"]) == {"k2", "k3"} and len(records[0]["neighbours"]) == 3
    result = runner.invoke(app, [*base, "--cut", "3"])  # no tree
    assert result.exit_code == 2 and result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1


def test_a_tree_of_some_training_images_keeps_the_distances(trained: Path):
    """With --tree, the neighbours are its leaves, but distances stay those of the whole
    run's centre: a pair's distance does not depend on which tree was given."""
    runner = CliRunner()
    base = ["assign", str(trained / "images"), "--run", str(trained / "run"), "-k", "3"]
    pairs = []
    for tree in ("((c1/img2.png,c2/img0.png),c0/img1.png);", None):
        args = base
        if tree is not None:
            (trained / "part.nwk").write_text(tree)
            args = [*base, "--tree", str(trained / "part.nwk")]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
        pairs.append({(r[0], r[j]): float(r[j + 1]) for r in rows for j in (1, 3, 5)})
    shared = pairs[0].keys() & pairs[1].keys()
    assert shared and all(abs(pairs[0][p] - pairs[1][p]) < 1e-5 for p in shared)

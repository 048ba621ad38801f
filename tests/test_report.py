"""`infohier report`: the page's parts against slow references, what it shows of a small
trained run, its size bound on a larger synthetic one, one-line errors, and the page in a
real headless browser (skipped where no chromium is installed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN, make_folder
from PIL import Image
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.report.clusters import cluster_members, cluster_view, expandable, leaf_spans
from infohier_cli.report.curves import read_log, training_charts
from infohier_cli.report.dendrogram import members
from infohier_cli.report.html import shown
from infohier_cli.report.thumbnails import THUMBNAIL_PX, leaf_pictures, readable_pictures
from infohier_cli.training.similarity import normalise
from infohier_cli.trees.files import write_tree
from infohier_cli.trees.registry import latent_tree
from infohier_cli.trees.tree import Tree

ODD_NAME = "c0/it's <b>&amp; é (1).png"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def random_tree(n: int, seed: int) -> Tree:
    """A random binary tree: n − 1 merges of random pairs of the current clusters."""
    rng = np.random.default_rng(seed)
    alive, rows = list(range(n)), []
    for row in range(n - 1):
        a, b = sorted(rng.choice(len(alive), 2, replace=False).tolist(), reverse=True)
        rows.append([alive[a], alive[b], float(row), 0.0])
        alive.pop(a)
        alive.pop(b)
        alive.append(n + row)
    return Tree([f"x{i}" for i in range(n)], np.array(rows))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leaf_spans_match_a_traversal_and_clusters_lie_under_their_tops(seed: int):
    tree = random_tree(40, seed)
    spans = leaf_spans(tree)
    assert spans.order.tolist() == tree.leaf_order().tolist()
    for node in range(2 * tree.n - 1):  # each node's span = its leaves found by traversal
        assert spans.members(node).tolist() == members(tree, node)
    for k in (1, 2, 5, 17, 40):
        labels, tops = tree.clusters(k)
        for cluster, leaves in enumerate(cluster_members(labels, k)):
            assert leaves.tolist() == np.flatnonzero(labels == cluster).tolist()
            assert set(leaves.tolist()) <= set(spans.members(tops[cluster]).tolist())
        shown = [v for v in range(2 * tree.n - 1) if expandable(tree, v, k)]
        assert len(shown) == k - 1  # the top of the tree truncated to k clusters


def test_cluster_view_medoids_first_and_a_bounded_sample():
    tree = random_tree(60, 3)
    spans = leaf_spans(tree)
    unit = normalise(np.random.default_rng(0).normal(size=(60, 5)))
    root = tree.root
    everyone = spans.members(root)
    view = cluster_view(everyone, root, unit, 3, 10, spare=2)
    summed = unit @ unit.sum(axis=0)  # u_i · Σ_j u_j over all leaves of the root
    assert view.central == np.argsort(-summed, kind="stable")[:5].tolist()
    assert len(view.sample) == 12 and not set(view.sample) & set(view.central[:3])
    assert view == cluster_view(everyone, root, unit, 3, 10, spare=2)  # reproducible
    small = tree.children()[0, 0]  # a leaf: nothing else to draw
    assert cluster_view(spans.members(small), small, unit, 3, 10, spare=2).sample == []
    pair = spans.members(tree.n)
    assert cluster_view(pair, tree.n, unit, 1, 10).sample == [tree.children()[0, 1]]


def test_training_charts_draw_each_loss_and_skip_the_warm_up(tmp_path: Path):
    log = tmp_path / "log.jsonl"
    entries = [
        {"epoch": e, "loss": 5.0 - e, "contrastive": 4.0 - e / 2, "hierarchical": 0.0,
         "hc_active": e > 2, "lr": 0.001 / e}
        for e in range(1, 6)
    ]  # fmt: skip
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))
    svg = training_charts(read_log(log))
    charts = [ElementTree.fromstring(part + "</svg>") for part in svg.split("</svg>")[:-1]]
    assert len(charts) == 2
    lines = [e for e in charts[0].iter() if e.tag == "polyline"]
    counts = sorted(len(line.get("points").split()) for line in lines)
    assert counts == [3, 5, 5]  # hierarchical only from epoch 3, when it was on
    assert [e for e in charts[0].iter() if e.tag == "line"]  # the marker at epoch 3
    assert read_log(tmp_path / "none.jsonl") == [] and training_charts([]) == ""
    log.write_bytes(b'{"epoch": 1}\n[1, 2]\n\xff\xfe garbage\n{"epoch": 2}\n')
    notes = []
    assert read_log(log, notes.append) == [{"epoch": 1}, {"epoch": 2}]  # damaged lines out
    assert len(notes) == 1 and "2 line(s)" in notes[0] and "line 2" in notes[0]


def test_names_are_escaped_once_and_undecodable_bytes_shown_as_replacement():
    name = b"plate 1/it's <b>\xff \xc3\xa9.png".decode("utf-8", "surrogateescape")
    assert shown(name) == "plate 1/it&#x27;s &lt;b&gt;\ufffd é.png"


def test_pictures_of_grouped_channel_files(tmp_path: Path):
    """With the run's --group, a leaf (a sample id) shows its stacked 16-bit channel files:
    w1 as red, w2 as green (two channels: no blue)."""
    import tifffile

    for sample in ("A01_s1", "B02_s1"):
        for channel, bright in (("w1", np.s_[:, :12]), ("w2", np.s_[:12, :])):
            pixels = np.zeros((24, 24), np.uint16)
            pixels[bright] = 60000  # w1: the left half, w2: the top half
            tifffile.imwrite(tmp_path / f"{sample}_{channel}.tif", pixels)
    names = ["A01_s1", "B02_s1", "Z09_s9"]
    picture = leaf_pictures(names, tmp_path, r"(?P<sample>[A-Z]\d\d_s\d)_(?P<channel>w\d)\.tif")
    red, green, blue = np.moveaxis(picture(0), 2, 0)
    assert red.shape == (THUMBNAIL_PX, THUMBNAIL_PX) and blue.max() == 0
    assert red[:, :16].mean() > 0.9 > 0.1 > red[:, -16:].mean()
    assert green[:16].mean() > 0.9 > 0.1 > green[-16:].mean()
    assert picture(2) is None  # no such sample
    assert leaf_pictures(names, tmp_path)(0) is None  # without --group: not a file
    assert [leaf for leaf, _ in readable_pictures([2, 1, 0], 1, picture)] == [1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A run trained for 2 epochs on 19 images (one with a hostile name; one more file is
    unreadable), and its tree."""
    root = tmp_path_factory.mktemp("report")
    images = make_folder(root / "images")
    shutil.copy(images / "c0" / "img1.png", images / ODD_NAME)
    (images / "c1" / "broken.png").write_bytes(b"not a picture")
    args = [*TINY_TRAIN, "--run", str(root / "run")]
    result = CliRunner().invoke(app, ["train", str(images), *args])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        app, ["tree", "--out", str(root / "tree.json"), "--run", str(root / "run")]
    )
    assert result.exit_code == 0, result.output
    return root


def report(*args: str) -> object:
    return CliRunner().invoke(app, ["report", *args])


def img_count(page: str) -> int:
    return len(re.findall(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+"', page))


def test_report_of_a_trained_run(trained: Path):
    out = trained / "out" / "report.html"
    run = ["--run", str(trained / "run")]
    result = report(*run, "--tree", str(trained / "tree.json"), "--out", str(out))
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    n = 19
    assert f"{n} images" in page
    for k in (4, 16):  # the default levels, each cluster's card with its size
        cards = re.findall(rf'id="k{k}-c(\d+)"><h3>cluster \d+ · (\d+) images?', page)
        assert [int(c) for c, _ in cards] == list(range(k))
        assert sum(int(size) for _, size in cards) == n
        assert all(f'href="#k{k}-c{c}"' in page for c in range(k))  # linked from the tree
    for card in page.split('<div class="card"')[1:]:  # every image readable: full strips
        size = int(re.search(r"· (\d+) images?", card).group(1))
        strips = card.split('<div class="strip small">')
        shown_central = strips[0].count("<img")
        shown_sample = strips[1].count("<img") if len(strips) > 1 else 0
        assert (shown_central, shown_sample) == (min(4, size), min(12, size - shown_central))
    assert "it&#x27;s &lt;b&gt;&amp;amp; é (1).png" in page  # the name, escaped once
    assert "<details open>" in page and page.count("<details") >= 3
    assert "<polyline" in page  # the training curves
    assert "lambda_hc</code> 1.0" in page and "skipped files</code> 1<" in page  # the run
    bound = (4 + 16) * (4 + 12) + 2 * 50
    assert 0 < img_count(page) == page.count("<img") <= bound
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # nothing from a network
    assert not list(out.parent.glob(".*.tmp"))
    # the default tree (built like `infohier tree`) and an automatic level
    again = trained / "out" / "auto.html"
    result = report(*run, "--cut", "auto", "--cut", "5", "--tree-leaves", "2", "--out", str(again))
    assert result.exit_code == 0, result.output
    assert "cut auto: k=" in result.stderr and 'id="k5-c4"' in again.read_text("utf-8")
    # clusters below the 2 leaves of the shown tree: linked at their nearest shown ancestor
    assert all(f'href="#k5-c{c}"' in again.read_text("utf-8") for c in range(5))
    # without images: the names of each cluster's medoids, no thumbnails
    gone = trained / "out" / "names.html"
    folder = trained / "images"
    os.rename(folder, trained / "moved")
    try:
        result = report(*run, "--tree", str(trained / "tree.json"), "--out", str(gone))
    finally:
        os.rename(trained / "moved", folder)
    assert result.exit_code == 0, result.output
    assert "no thumbnails" in result.stderr and "<img" not in gone.read_text("utf-8")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--images", "{root}/nowhere"], "--images"),
        (["--cut", "x"], "--cut"),
        (["--cut", "400"], "cannot cut"),
        (["--tree", "{root}/stem.nwk"], "are not in"),
        (["--run", "{root}/images"], "no checkpoint"),
        (["--out", "{root}/run/embeddings.npz"], "--out"),
    ],
)
def test_report_bad_input_is_one_line_error(trained: Path, args, message):
    (trained / "stem.nwk").write_text("((a,b),c);\n")
    args = [a.format(root=trained) for a in args]
    out = trained / "bad" / "r.html"
    base = ["--run", str(trained / "run"), "--tree", str(trained / "tree.json"), "--out", str(out)]
    result = report(*base, *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert not out.exists()


def test_report_size_does_not_grow_with_the_images(trained: Path, tmp_path: Path):
    """3,000 synthetic images (links to 19 files): the images shown stay within the bound
    k · (representatives + sample) + 2 · tree leaves, not one per image."""
    n, classes = 3000, 6
    rng = np.random.default_rng(0)
    files = sorted(p for p in (trained / "images").rglob("*.png"))
    images = tmp_path / "many"
    images.mkdir()
    ids = [f"i{i:05d}.png" for i in range(n)]
    for i, name in enumerate(ids):
        os.symlink(files[i % len(files)], images / name)
    label = rng.integers(0, classes, n)
    latent = rng.normal(size=(classes, 16))[label] + 0.3 * rng.normal(size=(n, 16))
    emb = Embeddings(ids, latent.astype(np.float32), np.zeros((n, 2), np.float32))
    save_embeddings(tmp_path / "emb.npz", emb)
    write_tree(latent_tree(emb), tmp_path / "tree.nwk", "newick")
    out = tmp_path / "big.html"
    args = ["--run", str(trained / "run"), "--embeddings", str(tmp_path / "emb.npz")]
    args += ["--tree", str(tmp_path / "tree.nwk"), "--images", str(images), "--out", str(out)]
    result = report(*args, "--cut", "6", "--cut", "30", "--sample", "8")
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert f"{n:,} images" in page
    assert 0 < img_count(page) <= (6 + 30) * (4 + 8) + 2 * 50
    assert len(page) < 2_000_000


def browser() -> str | None:
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


@pytest.mark.skipif(
    browser() is None,
    reason="no headless browser: install Debian's chromium (.ci/run does) to run this test",
)
def test_report_in_a_headless_browser(trained: Path, tmp_path: Path):
    """Chromium opens REPORT.html#selftest: no console message, the page's own check (a
    click on a closed node reveals its children, every image decodes) read from the
    dumped DOM, and a screenshot that is not one flat colour."""
    page = tmp_path / "report é.html"
    result = report(
        "--run", str(trained / "run"), "--tree", str(trained / "tree.json"),
        "--tree-leaves", "8", "--out", str(page),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shot = tmp_path / "shot.png"
    command = [
        browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=3000", "--window-size=1200,1800", f"--screenshot={shot}",
        "--dump-dom", page.as_uri() + "#selftest",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    found = re.search(r'<pre id="selftest" hidden="">(\{.*?\})</pre>', done.stdout)
    assert found, done.stdout[-2000:]
    check = json.loads(found.group(1))
    assert check["errors"] == [] and check["broken_images"] == []
    assert check["images"] > 0 and check["images"] == img_count(page.read_text("utf-8"))
    assert check["closed_visible"] >= 1  # closed nodes a reader sees at first
    assert check["hidden_before"] == check["revealed_by_click"] == check["closed_visible"]
    assert check["details"] == 7 and check["all_open_after_expand"]  # 8 clusters: 7 merges
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (1800, 1200)
    packed = pixels.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    assert len(np.unique(packed)) > 50  # text, curves and thumbnails, not one flat colour

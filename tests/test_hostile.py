"""Hostile conditions (issue 14): a second writer, Ctrl-C, a diverging loss, --overwrite,
stray temporary files, strange output paths, bad inputs. Each test failed before the fix."""

from __future__ import annotations

import errno
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TRAIN, make_folder
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.run import RunDir

runner = CliRunner()

ONE_EPOCH = [*TINY_TRAIN, "--epochs", "1", "--width", "4", "--batch-size", "4"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("hostile") / "images", per_class=4)


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory) -> Path:
    """A finished one-epoch run (read-only for the tests that share it)."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert invoke("train", folder, "--run", run, *ONE_EPOCH).exit_code == 0
    return run


# 1. lock
def test_second_writer_fails_at_once_and_a_stale_lock_does_not_block(folder, tmp_path):
    run = RunDir(tmp_path / "run")
    with run.lock():
        result = invoke("train", folder, "--run", run.root, *ONE_EPOCH)
    assert "in use" in one_line_error(result)
    assert not run.root.exists()  # made for the lock only: removed again
    run.create()
    run.lock_file.write_text("")  # left by a killed process: the kernel dropped its flock
    assert invoke("train", folder, "--run", run.root, *ONE_EPOCH).exit_code == 0


def test_a_first_train_that_reads_no_image_leaves_no_run_folder(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.jpg", "c.tif"):
        (images / name).write_bytes(b"not an image")
    result = invoke("train", images, "--run", tmp_path / "run")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1].endswith("could be read")  # after a warning each
    assert not (tmp_path / "run").exists()  # neither its lock nor the cache stays
    # into a folder that exists (the image folder itself): it is left as it was
    before = sorted(p.name for p in images.iterdir())
    assert invoke("train", images, "--run", images).exit_code == 2
    assert sorted(p.name for p in images.iterdir()) == before


# 2. Ctrl-C
def test_ctrl_c_mid_epoch_keeps_the_last_finished_epoch(folder, trained, tmp_path, monkeypatch):
    import shutil

    import infohier_cli.training.fit as fit_module

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = (run / "checkpoint.pt").read_bytes()
    real, calls = fit_module.step_losses, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:  # second step of epoch 2: one optimiser step already taken
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(fit_module, "step_losses", interrupted)
    result = invoke("train", folder, "--run", run, "--resume", "--epochs", "2")
    assert result.exit_code == 130
    assert "epoch 1" in result.stderr and "unfinished epoch is dropped" in result.stderr
    assert (run / "checkpoint.pt").read_bytes() == before


def test_resume_refuses_a_folder_whose_images_changed(folder, trained, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    changed = tmp_path / "changed"
    shutil.copytree(folder, changed)
    shutil.copy(changed / "c0" / "img0.png", changed / "c0" / "extra.png")
    (changed / "c1" / "img0.png").write_bytes(b"no longer an image")
    result = invoke("train", changed, "--run", run, "--resume", "--epochs", "2")
    assert result.exit_code == 2 and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]  # after the warning naming the bad file
    assert line.startswith("error: --resume") and "1 new (e.g. 'c0/extra.png')" in line
    assert "1 missing or unreadable (e.g. 'c1/img0.png')" in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_ctrl_c_while_reading_images_claims_no_checkpoint(folder, tmp_path, monkeypatch):
    import infohier_cli.training.train as train_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "scan_folder", interrupted)
    result = invoke("train", folder, "--run", tmp_path / "run", *ONE_EPOCH)
    assert result.exit_code == 130
    assert "no checkpoint was saved" in result.stderr
    assert "checkpoint saved" not in result.stderr


# 3. non-finite loss
def test_nan_loss_stops_keeps_the_last_good_checkpoint(folder, trained, tmp_path, monkeypatch):
    import shutil

    import infohier_cli.training.fit as fit_module

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = (run / "checkpoint.pt").read_bytes()
    real = fit_module.step_losses

    def diverging(*args):
        losses = real(*args)
        return (losses[0] * float("nan"), *losses[1:])

    monkeypatch.setattr(fit_module, "step_losses", diverging)
    result = invoke("train", folder, "--run", run, "--resume", "--epochs", "2")
    line = one_line_error(result)
    assert "epoch 2, step 1" in line and "--lr" in line
    assert (run / "checkpoint.pt").read_bytes() == before


# 4. --overwrite starts clean, and only once the new run can start
def test_overwrite_starts_the_run_folder_clean(folder, trained, tmp_path, monkeypatch):
    import shutil

    import infohier_cli.training.train as train_module

    run = RunDir(tmp_path / "run")
    shutil.copytree(trained, run.root)
    with run.log.open("a") as handle:
        handle.write('{"epoch": 99}\n')
    before = {path: path.read_bytes() for path in (run.checkpoint, run.embeddings, run.log)}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "scan_folder", interrupted)
    invoke("train", folder, "--run", run.root, *ONE_EPOCH, "--overwrite")
    assert {path: path.read_bytes() for path in before} == before  # Ctrl-C while reading
    monkeypatch.undo()
    one_image = make_folder(tmp_path / "one", per_class=1, classes=1)
    result = invoke("train", one_image, "--run", run.root, *ONE_EPOCH, "--overwrite")
    assert "at least 3 readable images" in one_line_error(result)
    assert {path: path.read_bytes() for path in before} == before  # bad input loses no work
    assert invoke("train", folder, "--run", run.root, *ONE_EPOCH, "--overwrite").exit_code == 0
    epochs = [json.loads(line)["epoch"] for line in run.log.read_text().splitlines()]
    assert epochs == [1]


# 7. stray temporary files
def test_stray_tmp_files_are_removed_at_the_next_start(folder, tmp_path):
    run = RunDir(tmp_path / "run")
    run.create()
    stray = run.root / ".checkpoint.pt.k1ll3d.tmp"
    stray.write_bytes(b"half a checkpoint")
    assert invoke("train", folder, "--run", run.root, *ONE_EPOCH).exit_code == 0
    assert not stray.exists()
    assert not list(run.root.glob("*.tmp")) and not list(run.root.glob(".*.tmp"))


# 5. outputs that would clobber the run
def test_outputs_never_overwrite_the_run(folder, trained, tmp_path):
    before = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    tree_file = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree_file).exit_code == 0
    assert "own" in one_line_error(
        invoke("tree", "--run", trained, "--out", trained / "embeddings.npz")
    )
    assert "own" in one_line_error(invoke("export", tree_file, "--out", trained / "checkpoint.pt"))
    assert "own" in one_line_error(
        invoke("export", tree_file, "--cut", "2", "--out", trained / "train_log.jsonl")
    )
    other = make_folder(tmp_path / "other", per_class=2)
    assert "--out" in one_line_error(invoke("embed", other, "--run", trained, "--device", "cpu"))
    for target in ("checkpoint.pt", "x.npz"):
        one_line_error(
            invoke("embed", other, "--run", trained, "--out", trained / target, "--device", "cpu")
        )
    assert {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()} == before
    result = invoke(
        "embed", other, "--run", trained, "--out", tmp_path / "o.npz", "--device", "cpu"
    )
    assert result.exit_code == 0


def test_outputs_never_replace_or_join_the_input_images(folder, trained, tmp_path):
    image = sorted(folder.rglob("*.png"))[0]
    before = image.read_bytes()
    for command in ("embed", "assign"):
        for out in (image, folder / "new name.PNG"):
            message = one_line_error(
                invoke(command, folder, "--run", trained, "--out", out, "--device", "cpu")
            )
            assert "inside the image folder" in message
    assert image.read_bytes() == before and not (folder / "new name.PNG").exists()
    tree_file = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree_file).exit_code == 0
    cut = ("export", tree_file, "--cut", "2", "--images", folder)
    for out, message in [
        (folder, "inside the image folder"),  # the images
        (folder.parent, "not an earlier export"),  # a folder above them
        (trained, "not an earlier export"),  # a run
    ]:
        assert message in one_line_error(invoke(*cut, "--folders", out, "--overwrite"))
    assert image.read_bytes() == before and (trained / "checkpoint.pt").is_file()
    export = tmp_path / "clusters"
    assert invoke(*cut, "--folders", export).exit_code == 0
    assert invoke(*cut, "--folders", export, "--overwrite").exit_code == 0  # an earlier export
    shutil.copytree(folder, export / "images")
    inside = ("export", tree_file, "--cut", "2", "--images", export / "images")
    assert "holds the image folder" in one_line_error(
        invoke(*inside, "--folders", export, "--overwrite")
    )
    outside = tmp_path / "outside.nwk"
    outside.write_text(tree_file.read_text().replace("(", "('../x.png',", 1), encoding="utf-8")
    assert "not paths inside" in one_line_error(
        invoke("export", outside, "--cut", "2", "--images", folder, "--folders", tmp_path / "o")
    )


# 8. output paths
def test_output_paths_that_are_not_regular_files(trained, tmp_path):
    import os
    import stat

    tree_file = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree_file).exit_code == 0
    assert "folder" in one_line_error(invoke("export", tree_file, "--out", tmp_path))
    assert "folder" in one_line_error(invoke("export", tree_file, "--out", ""))
    assert "format" in one_line_error(invoke("export", tree_file, "--plot", tmp_path / "p.xyz"))
    for option in ("--plot", "--dendrogram"):  # a picture is never a file named '-'
        assert "file name" in one_line_error(invoke("export", tree_file, option, "-"))
    assert not Path("-").exists()
    if Path("/dev/full").exists():
        assert "space" in one_line_error(invoke("export", tree_file, "--out", "/dev/full"))
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    if not os.access(locked, os.W_OK):  # (root writes anywhere)
        one_line_error(invoke("export", tree_file, "--out", locked / "x.nwk"))
    fifo = tmp_path / "pipe.nwk"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert invoke("export", tree_file, "--out", fifo).exit_code == 0
        assert os.read(reader, 1 << 16).startswith(b"(")
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_broken_pipe_and_usage_errors_are_quiet_one_liners(trained, tmp_path):
    import contextlib
    import os
    import subprocess
    import sys

    tree_file = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree_file).exit_code == 0
    cli = [sys.executable, "-m", "infohier_cli"]
    pipe = subprocess.Popen(
        [*cli, "export", str(tree_file), "--cut", "2", "--out", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    pipe.stdout.readline()
    pipe.stdout.close()
    assert pipe.stderr.read() == b"" and pipe.wait() in (0, 1, 141)
    pipe.stderr.close()
    streams = tmp_path / "streams"
    streams.mkdir()
    (streams / "my stdout").symlink_to("/proc/self/fd/1")  # a link into /proc: the stream
    with open(streams / "captured.csv", "wb") as captured:  # stdout redirected to a file
        args = [*cli, "export", str(tree_file), "--cut", "2", "--out", str(streams / "my stdout")]
        assert subprocess.run(args, stdout=captured).returncode == 0
    assert (streams / "my stdout").is_symlink() and b"path,k2" in (
        streams / "captured.csv"
    ).read_bytes()
    (streams / "a link").symlink_to("real.csv")  # any other link: the file it names is written
    assert invoke("export", tree_file, "--cut", "2", "--out", streams / "a link").exit_code == 0
    assert (streams / "a link").is_symlink() and (streams / "real.csv").is_file()
    for stdout in (["/dev/full"] if Path("/dev/full").exists() else []) + [None]:
        with open(stdout, "wb") if stdout else contextlib.nullcontext() as target:
            out = subprocess.run(  # stdout on a full disk, then stdout closed
                [*cli, "export", str(tree_file), "--cut", "2", "--out", "-"],
                stdout=target if stdout else None, stderr=subprocess.PIPE, text=True,
                **({} if stdout else {"pass_fds": (), "preexec_fn": lambda: os.close(1)}),
            )  # fmt: skip
        assert (
            out.returncode == 2
            and out.stderr.startswith("error: ")
            and "Traceback" not in out.stderr
        )
    for args in (["train", "--channels"], ["train", "x", "--bogus"], ["nope"]):
        out = subprocess.run([*cli, *args], capture_output=True, text=True)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1, out.stderr
        assert lines[0].startswith("error: ") and "--help" in lines[0]


def test_empty_run_folder_is_refused_not_the_current_folder(tmp_path, monkeypatch):
    """`--run ""` (an unset shell variable) would be Path('') = '.': refused, nothing written."""
    import subprocess
    import sys

    folder = make_folder(tmp_path / "imgs")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for args in (["train", folder, *TINY_TRAIN], ["tree"], ["embed", folder]):
        assert invoke(*args, "--run", "").exit_code == 2
    assert list(work.iterdir()) == []
    out = subprocess.run(
        [sys.executable, "-m", "infohier_cli", "train", str(folder), "--run", ""],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "--run" in out.stderr and "empty string" in out.stderr
    assert list(work.iterdir()) == []


# 16. permissions
def test_outputs_honour_the_umask(trained, tmp_path):
    import os

    old = os.umask(0o022)
    try:
        assert invoke("tree", "--run", trained, "--out", tmp_path / "t.nwk").exit_code == 0
    finally:
        os.umask(old)
    assert (tmp_path / "t.nwk").stat().st_mode & 0o777 == 0o644
    assert (trained / "checkpoint.pt").stat().st_mode & 0o777 == 0o666 & ~old


# 12. option errors name the option
@pytest.mark.parametrize(
    "option, value",
    [
        ("--channels", "0"),
        ("--channels", "\u00b2"),  # a digit to str.isdigit, not to int()
        ("--image-size", "100000"),
        ("--image-size", "-5"),
        ("--width", "-1"),
        ("--ball-dim", "-2"),
        ("--batch-size", "-8"),
        ("--lr", "-0.1"),
        ("--encoder-lr-scale", "-1"),
        ("--tau-ct", "-1"),
        ("--tau-hc", "0"),
        ("--lambda-hc", "-1"),
        ("--triplets-per-image", "-3"),
        ("--jitter", "-1"),
        ("--color-jitter", "-0.5"),
        ("--seed", "-1"),
        ("--weight-decay", "-1"),
        ("--epochs", "-1"),
    ],
)
def test_bad_option_values_name_the_option(folder, tmp_path, option, value):
    result = invoke("train", folder, "--run", tmp_path / "run", option, value)
    assert option in one_line_error(result)
    assert not (tmp_path / "run").exists()


# 11. a checkpoint whose weights do not fit its settings
@pytest.mark.parametrize("change", [{"width": 8}, {"ball_dim": 3}])
def test_mismatched_checkpoint_is_one_line_for_resume_and_embed(folder, trained, tmp_path, change):
    import shutil

    import torch

    from infohier_cli.run import load_checkpoint

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    state = load_checkpoint(run / "checkpoint.pt")
    config = json.loads(state["config"])
    config.update(change)
    state["config"] = json.dumps(config)
    torch.save(state, run / "checkpoint.pt")
    result = invoke("train", folder, "--run", run, "--resume", "--epochs", "2")
    assert "do not fit" in one_line_error(result)
    result = invoke("embed", folder, "--run", run, "--out", tmp_path / "e.npz", "--device", "cpu")
    assert "do not fit" in one_line_error(result)


# 11b. a checkpoint whose settings were edited by hand into values train never stores
@pytest.mark.parametrize(
    "edit",
    [
        {"latent_symmetry": "auto"},
        {"symmetry": "auto"},
        {"latent_symmetry": "sideways"},
        {"width": "eight"},
        {"lr": None},
        "not json {",
    ],
)
def test_hand_edited_checkpoint_settings_are_one_line(folder, trained, tmp_path, edit):
    import shutil

    import torch

    from infohier_cli.run import load_checkpoint

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    state = load_checkpoint(run / "checkpoint.pt")
    if isinstance(edit, str):
        state["config"] = edit
    else:
        state["config"] = json.dumps({**json.loads(state["config"]), **edit})
    torch.save(state, run / "checkpoint.pt")
    result = invoke("embed", folder, "--run", run, "--out", tmp_path / "e.npz", "--device", "cpu")
    assert "settings" in one_line_error(result)
    result = invoke("train", folder, "--run", run, "--resume", "--epochs", "2")
    assert "settings" in one_line_error(result)
    assert not (tmp_path / "e.npz").exists()


# 10. bad embeddings files
@pytest.mark.parametrize("problem", ["nan", "inf", "shape", "missing", "outside"])
def test_bad_embeddings_are_one_line_and_no_nan_reaches_json(tmp_path, problem):
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {
        "paths": np.array([f"i{k}.png" for k in range(6)]),
        "latent": rng.normal(size=(6, 4)).astype(np.float32),
        "disk": (rng.uniform(-0.5, 0.5, size=(6, 2))).astype(np.float32),
    }
    if problem == "nan":
        arrays["disk"][2, 0] = np.nan
    elif problem == "inf":
        arrays["latent"][1, 1] = np.inf
    elif problem == "shape":
        arrays["disk"] = arrays["disk"][:, 0]
    elif problem == "missing":
        del arrays["disk"]
    else:
        arrays["disk"][0] = [3.0, 0.0]
    np.savez(tmp_path / "e.npz", **arrays)
    for source in ("latent",) if problem == "inf" else ("disk", "latent"):  # disk: no latent read
        result = invoke(
            "tree",
            "--embeddings",
            tmp_path / "e.npz",
            "--source",
            source,
            "--out",
            tmp_path / "t.json",
        )
        assert "embeddings" in one_line_error(result)
        assert not (tmp_path / "t.json").exists()


# 9. deep trees: every walk iterative
def test_a_100000_leaf_caterpillar_through_newick_json_cut_and_eval(tmp_path):
    import numpy as np

    from infohier_cli.trees.tree import Tree

    n = 100_000
    previous = np.concatenate([[0], n + np.arange(n - 2)])
    rows = np.column_stack([previous, np.arange(1, n), np.arange(1, n), np.arange(2, n + 1)])
    tree = Tree([f"c{i % 3}/img{i}.png" for i in range(n)], rows.astype(np.float64))
    (tmp_path / "t.nwk").write_text(tree.to_newick())
    (tmp_path / "t.json").write_text(tree.to_json())
    for name in ("t.nwk", "t.json"):
        back = Tree.from_newick if name.endswith("nwk") else Tree.from_json
        again = back((tmp_path / name).read_text())
        assert again.names == tree.names
        assert np.array_equal(again.cut(4), tree.cut(4))
    result = invoke("export", tmp_path / "t.json", "--cut", "3", "--out", tmp_path / "c.csv")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "c.csv").read_text().splitlines()) == n + 1
    result = invoke("eval", tmp_path / "t.json", "--labels-from-folders", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_leaves"] == n


def test_the_explicit_stack_json_parser_matches_json_loads(monkeypatch):
    import numpy as np

    import infohier_cli.trees.tree as tree_module
    from infohier_cli.trees.tree import Tree, _loads_iterative

    def caterpillar(n: int) -> Tree:
        previous = np.concatenate([[0], n + np.arange(n - 2)])
        rows = np.column_stack([previous, np.arange(1, n), np.arange(n - 1), np.arange(2, n + 1)])
        names = ['a "quoted"\\name', "tab\there", "é", *[f"x{i}" for i in range(n - 3)]]
        return Tree(names, rows.astype(np.float64), leaf_points=np.full((n, 2), -1.5e-3))

    text = caterpillar(100).to_json()
    assert _loads_iterative(text) == json.loads(text)
    deep = caterpillar(5000)
    monkeypatch.setattr(tree_module, "_loads_deep", _loads_iterative)
    again = Tree.from_json(deep.to_json())
    assert again.names == deep.names and np.array_equal(again.linkage, deep.linkage)
    for bad in ('{"a": 1', '{"a": 1}}', "[1, 2", "tru", '{"a" 1} x'):
        with pytest.raises(ValueError):
            _loads_iterative(bad)


# 13. bad inputs: JSON linkage, labels encoding, Ctrl-C while loading
@pytest.mark.parametrize(
    "change",
    [
        {"linkage": [[0, 1, 1.0]]},
        {"linkage": [[0, 7, 1.0, 2], [2, 3, 2.0, 3]]},
        {"linkage": [[0, 0, 1.0, 2], [1, 3, 2.0, 3]]},
        {"linkage": [[0, 1, 1.0, 2], [2, 4, 2.0, 3]]},
        {"linkage": None},
        {"root": None},
        {"n_leaves": None},
    ],
)
def test_bad_json_trees_are_one_line(tmp_path, change):
    import numpy as np

    from infohier_cli.trees.tree import Tree

    document = json.loads(
        Tree(["a", "b", "c"], np.array([[0, 1, 1.0, 2], [2, 3, 2.0, 3]])).to_json()
    )
    for key, value in change.items():
        if value is None:
            del document[key]
        else:
            document[key] = value
    (tmp_path / "t.json").write_text(json.dumps(document))
    for args in (["--cut", "2"], ["--out", tmp_path / "t.nwk"]):
        assert "JSON tree" in one_line_error(invoke("export", tmp_path / "t.json", *args))


def test_labels_csv_that_is_not_utf8_is_reported(trained, tmp_path):
    tree_file = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree_file).exit_code == 0
    (tmp_path / "labels.csv").write_bytes("path,class\nc0/img0.png,caf\xe9\n".encode("latin-1"))
    result = invoke("eval", tree_file, "--labels", tmp_path / "labels.csv")
    assert "UTF-8" in one_line_error(result)
    (tmp_path / "labels.csv").write_text("path,class,class\nc0/img0.png,a,b\n", encoding="utf-8")
    result = invoke("eval", tree_file, "--labels", tmp_path / "labels.csv")
    assert "names the level 'class' twice" in one_line_error(result)


def test_ctrl_c_while_loading_gives_no_traceback():
    """SIGINT while the modules load or the command line is built: one line, no traceback.
    A signal that lands while the interpreter itself starts (its `site` import, before any
    line of infohier runs) ends in Python's own fatal error, which no program can catch:
    that draw is repeated a little later."""
    import signal
    import subprocess
    import sys
    import time

    for delay in (0.2, 0.5):
        for attempt in range(6):
            process = subprocess.Popen(
                [sys.executable, "-m", "infohier_cli", "train", "--help"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(delay + 0.2 * attempt)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
            if "init_import_site" not in err:
                break
        assert "Traceback" not in err


# 15. special files and decompression bombs
def test_fifos_are_skipped_bombs_refused_and_each_image_decoded_once(tmp_path, monkeypatch):
    import os

    import numpy as np
    from PIL import Image

    import infohier_cli.data.read as read_module

    images = make_folder(tmp_path / "images", per_class=2)
    os.mkfifo(images / "pipe.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(images / "big.png")
    real, decoded = read_module.read_pixels, []

    def counting(path, *args):
        decoded.append(Path(path).name)
        return real(path, *args)

    monkeypatch.setattr(read_module, "read_pixels", counting)
    run = RunDir(tmp_path / "run")
    result = invoke("train", images, "--run", run.root, *ONE_EPOCH, "--max-megapixels", "0.001")
    assert result.exit_code == 0, result.output
    skipped = run.skipped.read_text()
    assert "big.png" in skipped and "over the limit" in skipped and "pipe.png" not in skipped
    # each image read once (the big one refused from its header, before decoding)
    assert sorted(decoded) == sorted(["big.png"] + [f"img{i}.png" for i in range(2)] * 3)


# 14. names: duplicates, non-UTF-8 bytes, tabs and newlines
def test_names_survive_duplicates_bad_bytes_tabs_and_newlines(tmp_path):
    import csv
    import os
    import shutil

    images = make_folder(tmp_path / "images", per_class=2)
    (images / "a").mkdir()
    (images / "b").mkdir()
    shutil.copy(images / "c0" / "img0.png", images / "a" / "x.png")
    shutil.copy(images / "c1" / "img0.png", images / "b" / "x.png")
    odd = os.fsdecode(b"caf\xe9 tab\there.png")
    shutil.copy(images / "c2" / "img0.png", os.path.join(images, odd))
    broken = "broken\nline\t.png"
    (images / broken).write_bytes(b"not an image")
    run = RunDir(tmp_path / "run")
    assert invoke("train", images, "--run", run.root, *ONE_EPOCH).exit_code == 0
    with open(run.skipped, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert [row[0] for row in rows] == [broken]
    stems = tmp_path / "stems.nwk"
    assert invoke("tree", "--run", run.root, "--out", stems, "--labels", "stem").exit_code == 0
    text = invoke("export", stems, "--out", "-", "--format", "json").stdout
    assert text.count('"path": "x"') == 1 and text.count('"path": "x~2"') == 1
    for name in ("t.nwk", "t.json"):
        assert invoke("tree", "--run", run.root, "--out", tmp_path / name).exit_code == 0
        result = invoke("export", tmp_path / name, "--cut", "2", "--out", tmp_path / "c.csv")
        assert result.exit_code == 0, result.output
        with open(tmp_path / "c.csv", newline="", encoding="utf-8", errors="surrogateescape") as h:
            assert odd in [row[0] for row in csv.reader(h)]
    with open(tmp_path / "t.json", encoding="utf-8") as handle:  # strict UTF-8: valid JSON
        assert odd in [leaf["path"] for leaf in leaves(json.load(handle)["root"])]
    ids = tmp_path / "i.nwk"
    assert invoke("tree", "--run", run.root, "--out", ids, "--labels", "id").exit_code == 0
    with open(f"{ids}.ids.tsv", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        assert odd in [row[1] for row in csv.reader(handle, delimiter="\t")]


def leaves(node: dict) -> list[dict]:
    """The leaf entries under a node of a tree's JSON, in order."""
    children = node.get("children")
    return [leaf for child in children for leaf in leaves(child)] if children else [node]


def test_bad_tree_files_and_outputs_onto_inputs_are_one_line_errors(trained, tmp_path):
    tree_file = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree_file).exit_code == 0
    for text, message in [
        ("(a:1,(a:1,c:1):1);", "'a' appears more than once"),
        ("(a:1,(:1,c:1):1);", "no name"),
        ("(a:nan,(b:inf,c:1):1);", "not a finite number"),
    ]:
        bad = tmp_path / "bad.nwk"
        bad.write_text(text)
        assert message in one_line_error(invoke("export", bad, "--cut", "2", "--out", "-"))
    json_file = tmp_path / "t.json"
    assert invoke("export", tree_file, "--out", json_file).exit_code == 0
    json_file.write_bytes(b"\xef\xbb\xbf" + json_file.read_bytes())  # a BOM
    assert invoke("export", json_file, "--cut", "2", "--out", "-").exit_code == 0
    before = tree_file.read_bytes()
    line = one_line_error(invoke("export", tree_file, "--cut", "2", "--out", tree_file))
    assert "input" in line and tree_file.read_bytes() == before
    result = invoke("eval", tree_file, "--labels-from-folders", "--depth", 10**12)
    assert result.exit_code == 0, result.output  # levels up to the deepest path only
    blocked = tmp_path / "blocked.nwk"  # a link whose folder cannot be made (a file is there)
    blocked.symlink_to(tree_file / "t.nwk")
    one_line_error(invoke("tree", "--run", trained, "--labels", "id", "--out", blocked))
    assert not Path(f"{blocked}.ids.tsv").exists()  # no map of a tree that was not written
    if Path("/dev/full").exists():
        result = invoke("tree", "--run", trained, "--labels", "id", "--out", "/dev/full")
        assert "--labels id needs a file" in one_line_error(result)
        assert not Path("/dev/full.ids.tsv").exists()


def test_an_unforeseen_file_error_names_the_file_not_stdout(monkeypatch, capsys):
    """An OSError that no check foresaw (an unreadable file, say, which root does not see
    in a test) is one line naming that file, not "cannot write stdout"."""
    app_module = importlib.import_module("infohier_cli.cli.app")  # `cli.app` is the Typer app

    def unreadable(**_kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "run/train_log.jsonl")

    monkeypatch.setattr(app_module, "app", unreadable)
    with pytest.raises(SystemExit) as stopped:
        app_module.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "error: run/train_log.jsonl: Permission denied\n"


def test_a_path_with_a_newline_stays_on_the_error_line(tmp_path):
    line = one_line_error(invoke("train", tmp_path / "no\nsuch\tfolder", "--run", tmp_path / "r"))
    assert line.endswith("no\\nsuch\\tfolder")


# 16. found by fuzzing (session 37)
def test_an_output_through_a_link_is_judged_by_the_file_it_names(folder, trained, tmp_path):
    checkpoint, embeddings = (trained / "checkpoint.pt").read_bytes(), trained / "embeddings.npz"
    before = embeddings.read_bytes()
    (tmp_path / "ck.pt").symlink_to(trained / "checkpoint.pt")
    line = one_line_error(invoke("tree", "--run", trained, "--out", tmp_path / "ck.pt"))
    assert "checkpoint.pt" in line and (trained / "checkpoint.pt").read_bytes() == checkpoint
    other = make_folder(tmp_path / "other", per_class=2, classes=2)
    (tmp_path / "emb.npz").symlink_to(embeddings)
    result = invoke("embed", other, "--run", trained, "--out", tmp_path / "emb.npz")
    assert "not the folder the run" in one_line_error(result) and embeddings.read_bytes() == before


def test_cluster_ids_are_the_same_read_from_newick_or_json(trained, tmp_path):
    cuts = []
    for name in ("t.nwk", "t.json"):
        assert invoke("tree", "--run", trained, "--out", tmp_path / name).exit_code == 0
        result = invoke("export", tmp_path / name, "--cut", "2", "--cut", "3", "--out", "-")
        assert result.exit_code == 0, result.output
        cuts.append(sorted(result.stdout.splitlines()))
    assert cuts[0] == cuts[1]


def test_a_one_image_tree_is_scored_with_its_embeddings(trained, tmp_path):
    one = make_folder(tmp_path / "one", per_class=1, classes=1)
    emb, tree = tmp_path / "one.npz", tmp_path / "one.nwk"
    assert invoke("embed", one, "--run", trained, "--out", emb).exit_code == 0
    assert invoke("tree", "--embeddings", emb, "--out", tree).exit_code == 0
    labels = tmp_path / "labels.csv"
    labels.write_text("path,class\nc0/img0.png,a\n")
    result = invoke("eval", tree, "--labels", labels, "--embeddings", emb)
    assert result.exit_code == 0, result.output


def test_text_inputs_may_be_pipes_and_odd_outputs_are_one_line(trained, tmp_path):
    import os
    import threading

    tree = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree).exit_code == 0
    pipe = tmp_path / "labels.fifo"  # as `--labels <(cmd)` gives
    os.mkfifo(pipe)
    rows = "path,class\n" + "".join(f"c{k}/img{i}.png,c{k}\n" for k in range(3) for i in range(4))
    writer = threading.Thread(target=lambda: pipe.write_text(rows), daemon=True)
    writer.start()
    result = invoke("eval", tree, "--labels", pipe)
    if writer.is_alive():  # the command never read the pipe: let the writer finish
        pipe.read_text()
    writer.join()
    assert result.exit_code == 0 and "class" in result.stdout, result.output
    assert "not a tree file" in one_line_error(invoke("export", tmp_path, "--cut", "2"))
    assert "'\u00b2'" in one_line_error(invoke("export", tree, "--cut", "\u00b2"))
    long_name = tmp_path / ("t" * 248 + ".nwk")  # 252 characters: a legal name
    assert invoke("tree", "--run", trained, "--out", long_name).exit_code == 0
    assert long_name.read_text().endswith(";\n") and not list(tmp_path.glob(".*.tmp"))
    if Path("/proc/version").exists():  # written through (under /proc), and refused there
        result = invoke("tree", "--run", trained, "--out", "/proc/version")
        assert "cannot write /proc/version" in one_line_error(result)


def test_decoders_stay_quiet_and_complex_pixels_are_skipped(tmp_path):
    import numpy as np
    import tifffile

    images = make_folder(tmp_path / "images", per_class=2)
    tifffile.imwrite(images / "complex.tif", np.full((16, 16), 1 + 1j, np.complex64))
    (images / "header_only.tif").write_bytes(b"II*\0\x08\0\0\0")  # tifffile logs about it
    run = RunDir(tmp_path / "run")
    result = invoke("train", images, "--run", run.root, *ONE_EPOCH)
    assert result.exit_code == 0, result.output
    assert "tifffile" not in result.stderr and "Warning" not in result.stderr, result.stderr
    skipped = run.skipped.read_text()
    assert "complex.tif\tValueError: complex pixel values" in skipped
    assert "header_only.tif" in skipped


def test_embeddings_given_as_csv_are_named_as_not_npz(tmp_path):
    csv_file = tmp_path / "e.csv"
    csv_file.write_text("path,x0,x1\na.png,0.1,0.2\n")
    line = one_line_error(invoke("tree", "--embeddings", csv_file, "--out", tmp_path / "t.nwk"))
    assert "not an .npz file" in line and not (tmp_path / "t.nwk").exists()


def test_pictures_stay_out_of_the_image_folder_and_missing_thumbnails_are_said(
    folder, trained, tmp_path
):
    tree = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", tree).exit_code == 0
    for option in ("--plot", "--dendrogram"):
        result = invoke("export", tree, option, folder / "picture.png", "--images", folder)
        assert "inside the image folder" in one_line_error(result)
    assert not (folder / "picture.png").exists()
    (tmp_path / "elsewhere").mkdir()  # not the folder the tree was made from
    result = invoke(
        "export", tree, "--dendrogram", tmp_path / "d.png", "--images", tmp_path / "elsewhere"
    )
    assert result.exit_code == 0 and "have no readable image under" in result.stderr


def test_an_output_written_again_keeps_its_permissions(trained, tmp_path):
    out = tmp_path / "t.nwk"
    assert invoke("tree", "--run", trained, "--out", out).exit_code == 0
    out.chmod(0o600)
    assert invoke("tree", "--run", trained, "--out", out).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o600


def test_embed_keeps_a_runs_embeddings_to_the_samples_it_trained_on(tmp_path):
    images = make_folder(tmp_path / "images", per_class=2)
    run = RunDir(tmp_path / "run")
    assert invoke("train", images, "--run", run.root, *ONE_EPOCH).exit_code == 0
    before = run.embeddings.read_bytes()
    shutil.copy(images / "c0" / "img0.png", images / "added.png")
    line = one_line_error(invoke("embed", images, "--run", run.root))
    assert "1 new (e.g. 'added.png')" in line and "give --out another file" in line
    assert run.embeddings.read_bytes() == before
    (images / "added.png").unlink()
    assert invoke("embed", images, "--run", run.root).exit_code == 0  # the same samples


# 17. found by fuzzing (session 38)
@pytest.fixture
def tree_file(trained, tmp_path) -> Path:
    assert invoke("tree", "--run", trained, "--out", tmp_path / "t.nwk").exit_code == 0
    return tmp_path / "t.nwk"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "{t}/c.csv", "--plot", "{t}/p.png", "--plot-layout", "disk"], "embeddings"),
        (["--out", "{t}/c.csv", "--plot", "{t}/p.png", "--folders", "{t}/full"], "not empty"),
        (["--out", "{t}/new/clusters.csv", "--folders", "{t}/new"], "lies inside --folders"),
        (["--plot", "{t}/same.png", "--dendrogram", "{t}/same.png"], "name the same file"),
        (["--out", "{t}/p.png", "--plot", "{t}/p.png"], "name the same file"),
        (["--out", "-", "--dendrogram", "-"], "a picture is written to a file"),
        (["--format", "json", "--out", "{t}/c.json"], "not the --cut clusters"),
        (["--out", "{t}/c.json"], "not the --cut clusters"),
    ],
)
def test_export_checks_every_output_before_it_writes_one(
    tree_file, folder, tmp_path, monkeypatch, args, message
):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    monkeypatch.chdir(tmp_path)  # no infohier-run here: --plot-layout disk finds no points
    given = [a.format(t=tmp_path) for a in args]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke("export", tree_file, "--cut", "2", "--images", folder, *given)
    assert message in one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_folders_refuse_the_current_folder_and_leave_no_temporary_folder(
    tree_file, folder, tmp_path, monkeypatch
):
    export = ["export", tree_file, "--cut", "2", "--images", folder]
    assert invoke(*export, "--folders", tmp_path / "fo").exit_code == 0
    before = sorted(p.name for p in (tmp_path / "fo").iterdir())
    monkeypatch.chdir(tmp_path / "fo")
    result = invoke(*export, "--folders", ".", "--overwrite")
    assert "holds the current folder" in one_line_error(result)
    assert sorted(p.name for p in (tmp_path / "fo").iterdir()) == before


def test_dendrogram_with_named_embeddings_it_cannot_read_is_an_error(tree_file, folder, tmp_path):
    out = tmp_path / "d.png"
    result = invoke(
        "export", tree_file, "--dendrogram", out, "--images", folder, "--embeddings", tree_file
    )
    assert "--embeddings" in one_line_error(result) and not out.exists()


def test_stdout_is_utf8_whatever_the_locale(tmp_path):
    ids = ["ünï.png", "a.png", "b.png", os.fsdecode(b"caf\xe9.png")]
    latent = np.random.default_rng(0).normal(size=(4, 3))
    save_embeddings(tmp_path / "e.npz", Embeddings(ids, latent, latent[:, :2] / 10))
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    command = [sys.executable, "-m", "infohier_cli", "tree", "--embeddings", tmp_path / "e.npz"]
    done = subprocess.run([*command, "--out", "-"], capture_output=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "ünï.png".encode() in done.stdout and b"caf\xe9.png" in done.stdout


def test_label_paths_match_with_dot_slash_or_backslashes(tree_file):
    names = sorted(
        line.split(",")[0]
        for line in invoke("export", tree_file, "--cut", "2", "--out", "-").stdout.splitlines()[1:]
    )
    written = [f"./{names[0]}", names[1].replace("/", "\\"), *names[2:]]
    labels = tree_file.parent / "labels.csv"
    labels.write_text("path,class\n" + "".join(f"{p},x{i % 2}\n" for i, p in enumerate(written)))
    result = invoke("eval", tree_file, "--labels", labels, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["levels"]["class"]["unlabelled"] == 0


@pytest.mark.parametrize(
    "text, message",
    [
        ("{a},x\n{b},y\n", "not a header"),
        ("path,,super\n{a},x,s\n", "has no name"),
        ("path,class\n{a}\n{b}\n", "no row has a label"),
        ("path,class,superclass\nelsewhere/{a},x,s\n", "no label matches"),
    ],
)
def test_label_files_that_cannot_be_read_as_meant_are_one_line(tree_file, text, message):
    result = invoke("export", tree_file, "--cut", "2", "--out", "-")
    a, b = (line.split(",")[0] for line in result.stdout.splitlines()[1:3])
    labels = tree_file.parent / "labels.csv"
    labels.write_text(text.format(a=a, b=b))
    assert message in one_line_error(invoke("eval", tree_file, "--labels", labels))


def test_quiet_plots_say_nothing_where_home_cannot_be_written(tree_file):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "XDG_"))}
    env["HOME"] = "/proc"  # no config folder can be made there
    picture = tree_file.parent / "p.png"
    command = [sys.executable, "-m", "infohier_cli", "-q", "export", tree_file, "--plot", picture]
    done = subprocess.run(command, capture_output=True, env=env, text=True)
    assert done.returncode == 0 and done.stderr == "" and picture.exists()


@pytest.mark.parametrize(
    "text, message",
    [("((a:1,b:-1):nan,c:1);", "not a finite number"), ("((a,b)c));", "malformed Newick")],
)
def test_a_bad_tree_is_one_line_naming_its_file(tmp_path, text, message):
    tree = tmp_path / "bad tree.nwk"
    tree.write_text(text)
    line = one_line_error(invoke("export", tree, "--out", "-"))
    assert line.startswith(f"error: {tree}: ") and message in line


def test_folders_through_a_link_replace_the_export_it_names(tree_file, folder, tmp_path):
    export = ["export", tree_file, "--images", folder, "--folders"]
    assert invoke(*export, tmp_path / "E", "--cut", "2").exit_code == 0
    (tmp_path / "link").symlink_to(tmp_path / "E")
    assert invoke(*export, tmp_path / "link", "--cut", "3", "--overwrite").exit_code == 0
    assert (tmp_path / "link").is_symlink() and (tmp_path / "E" / "c2").is_dir()

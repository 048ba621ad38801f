"""Training: loss goes down, SSL-only ablation, exact resume, safe checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from infohier_cli.config import TrainConfig
from infohier_cli.embeddings import load_embeddings
from infohier_cli.errors import UserError
from infohier_cli.run import Checkpoint, load_checkpoint
from infohier_cli.training.train import train

pytestmark = pytest.mark.slow

TINY = dict(batch_size=8, image_size=16, width=8, warmup_epochs=1, seed=3)


def run(folder: Path, run_dir: Path, **changes):
    options = {**TINY, **changes}
    resume = options.pop("resume", False)
    return train(
        folder, run_dir, options, resume=resume, device="cpu", progress=False, warn=lambda _m: None
    )


def log_lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


def test_short_run_lowers_the_joint_loss_and_writes_the_run_folder(image_folder, tmp_path):
    run(image_folder, tmp_path / "run", epochs=12, warmup_epochs=0, lr=3e-3)
    losses = [entry["loss"] for entry in log_lines(tmp_path / "run")]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.2
    assert all(entry["hc_active"] for entry in log_lines(tmp_path / "run"))
    with np.load(tmp_path / "run" / "embeddings.npz") as emb:
        assert emb["latent"].shape == (18, 64)
        assert emb["disk"].shape == (18, TrainConfig().ball_dim)
        assert list(emb["paths"])[:2] == ["c0/img0.png", "c0/img1.png"]
        radii = np.linalg.norm(emb["disk"], axis=1)
        assert np.all((radii > 0) & (radii <= 0.95 + 1e-4))  # the default free radius


def test_lambda_hc_zero_is_the_ssl_only_ablation(image_folder, tmp_path):
    run(image_folder, tmp_path / "run", epochs=2, lambda_hc=0.0)
    assert all(
        entry["hierarchical"] == 0.0 and not entry["hc_active"]
        for entry in log_lines(tmp_path / "run")
    )
    # its ball is untrained, and the embeddings file says so
    emb = load_embeddings(tmp_path / "run" / "embeddings.npz", with_latent=False)
    assert not emb.ball_trained


def test_local_views_train_and_are_stored_in_the_run_config(image_folder, tmp_path):
    run(image_folder, tmp_path / "run", epochs=2, warmup_epochs=0, local_crops=2)
    run(image_folder, tmp_path / "plain", epochs=2, warmup_epochs=0)
    assert Checkpoint.load(tmp_path / "run" / "checkpoint.pt").config.local_crops == 2
    multi, plain = log_lines(tmp_path / "run"), log_lines(tmp_path / "plain")
    assert all(np.isfinite(entry["contrastive"]) for entry in multi)
    # the local views reach the loss: the same seed without them gives another loss
    assert multi[0]["contrastive"] != pytest.approx(plain[0]["contrastive"], abs=1e-6)


CLI_TINY = ["--batch-size", "8", "--image-size", "16", "--width", "4", "--seed", "3"]


def cli_train(folder: Path, run_dir: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "infohier_cli", "-q", "train", str(folder)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [*command, "--run", str(run_dir), *extra],
        env=env,
        # a background job inherits SIGINT ignored; the user's Ctrl-C is what is tested
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_process_resumes_bit_for_bit(image_folder, tmp_path, sig):
    """Kill `train` at a random moment within the epoch after a random finished one, resume
    it in a new process, and compare with an uninterrupted run: the weights are identical.

    The delay is drawn within one epoch's time, measured on the straight run, so the signal
    lands in training on a fast machine as on a slow one (a fixed delay outlasted a whole
    tiny run on a fast one)."""
    epochs = "10"
    assert cli_train(image_folder, tmp_path / "straight", "--epochs", epochs, *CLI_TINY).wait() == 0
    epoch_seconds = min(entry["seconds"] for entry in log_lines(tmp_path / "straight"))
    chooser = random.Random()
    epochs_done, delay = chooser.randint(1, 3), chooser.uniform(0.0, epoch_seconds)
    log = tmp_path / "split" / "train_log.jsonl"
    process = cli_train(image_folder, tmp_path / "split", "--epochs", epochs, *CLI_TINY)
    while process.poll() is None and (
        not log.exists() or len(log.read_text().splitlines()) < epochs_done
    ):
        time.sleep(0.005)
    time.sleep(delay)
    process.send_signal(sig)
    assert process.wait() != 0, "the run ended before the signal: nothing was resumed"
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["epoch"] < int(epochs)
    resumed = cli_train(image_folder, tmp_path / "split", "--resume")
    assert resumed.wait() == 0
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert split["epoch"] == straight["epoch"] == int(epochs)
    for key, value in straight["model"].items():
        assert torch.equal(value, split["model"][key]), (key, epochs_done, delay)


GPU_PATH = dict(batch_augment="on", amp="on", channels_last="on")  # on the CPU here


@pytest.mark.parametrize("paths", [{}, GPU_PATH], ids=["default", "gpu-path"])
def test_resume_gives_the_same_weights_as_a_straight_run(image_folder, tmp_path, paths):
    run(image_folder, tmp_path / "straight", epochs=4, **paths)

    def interrupt_after_epoch_2(message: str) -> None:
        if message.startswith("epoch 2/4"):
            raise KeyboardInterrupt  # as if Ctrl-C arrived right after epoch 2

    with pytest.raises(KeyboardInterrupt):
        train(
            image_folder,
            tmp_path / "split",
            {**TINY, "epochs": 4, **paths},
            device="cpu",
            progress=False,
            warn=interrupt_after_epoch_2,
        )
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["epoch"] == 2
    run(image_folder, tmp_path / "split", resume=True)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    split = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert split["epoch"] == straight["epoch"] == 4
    # Bit for bit: the losses replay and the weights are identical.
    assert [e["loss"] for e in log_lines(tmp_path / "split")] == [
        e["loss"] for e in log_lines(tmp_path / "straight")
    ]
    for key, value in straight["model"].items():
        assert torch.equal(value, split["model"][key]), key


@pytest.mark.parametrize("amp", ["off", "on"])  # float32, and bfloat16 autocast
def test_seed_reproduces_a_cpu_run(image_folder, tmp_path, amp):
    run(image_folder, tmp_path / "a", epochs=2, amp=amp)
    run(image_folder, tmp_path / "b", epochs=2, amp=amp)
    with (
        np.load(tmp_path / "a" / "embeddings.npz") as a,
        np.load(tmp_path / "b" / "embeddings.npz") as b,
    ):
        np.testing.assert_array_equal(a["disk"], b["disk"])


def test_existing_run_is_not_clobbered(image_folder, tmp_path):
    run(image_folder, tmp_path / "run", epochs=1, warmup_epochs=0)
    with pytest.raises(UserError, match="already holds a run"):
        run(image_folder, tmp_path / "run", epochs=1)
    train(
        image_folder,
        tmp_path / "run",
        {**TINY, "epochs": 1},
        overwrite=True,
        device="cpu",
        progress=False,
        warn=lambda _m: None,
    )


class Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(MARKER),))


MARKER = ""


def test_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    global MARKER
    MARKER = str(tmp_path / "pwned")
    with open(tmp_path / "checkpoint.pt", "wb") as handle:
        pickle.dump({"format": "infohier-checkpoint/1", "payload": Exploit()}, handle)
    torch.save({"format": "infohier-checkpoint/1", "payload": Exploit()}, tmp_path / "evil.pt")
    for name in ("checkpoint.pt", "evil.pt"):
        with pytest.raises(UserError):
            load_checkpoint(tmp_path / name)
    assert not Path(MARKER).exists()


def test_corrupt_checkpoint_is_a_user_error(tmp_path):
    rng = np.random.default_rng(0)
    damaged = [b"garbage" * 10, b"hello world", b"\x80\x02" + b"h" * 30]  # b"h": memo get
    damaged += [rng.bytes(int(size)) for size in rng.integers(5, 3000, 20)]
    for data in damaged:
        (tmp_path / "checkpoint.pt").write_bytes(data)
        with pytest.raises(UserError, match="corrupt or not a checkpoint"):
            load_checkpoint(tmp_path / "checkpoint.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not an infohier checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_auto_symmetry_is_resolved_once_said_and_stored(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "noise"
    folder.mkdir()
    for i in range(24):  # noise has no "up": every flip of it looks like the folder
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    said: list[str] = []
    options = {**TINY, "epochs": 1, "symmetry": "auto"}  # --latent-symmetry: auto by default
    train(folder, tmp_path / "run", options, device="cpu", progress=False, warn=said.append)
    resolved = "symmetry: dihedral for the training views and latents (auto: "
    assert [line for line in said if line.startswith(resolved)]
    config = Checkpoint.load(tmp_path / "run" / "checkpoint.pt").config
    assert (config.symmetry, config.latent_symmetry) == ("dihedral", "dihedral")
    said.clear()
    options["epochs"] = 2
    train(folder, tmp_path / "run", options, resume=True, device="cpu", progress=False,
          warn=said.append)  # fmt: skip
    assert not [line for line in said if line.startswith("symmetry:")]
    config = Checkpoint.load(tmp_path / "run" / "checkpoint.pt").config
    assert (config.symmetry, config.latent_symmetry) == ("dihedral", "dihedral")


def test_latents_are_pooled_over_the_mirror_images_the_run_chose(tmp_path):
    """A dihedral run gives every flip and quarter turn of an image the same latent and
    ball point; `--latent-symmetry none` is the plain forward pass."""
    from infohier_cli.embed import embed_samples

    rng = np.random.default_rng(1)
    folder = tmp_path / "pictures"
    folder.mkdir()
    base = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    views = {"plain": base, "flipped": base[:, ::-1], "turned": np.rot90(base)}
    for name, pixels in views.items():
        Image.fromarray(np.ascontiguousarray(pixels)).save(folder / f"{name}.png")
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    pooled = {**TINY, "epochs": 1, "latent_symmetry": "dihedral"}
    for run, options in (("pooled", pooled), ("plain", {**pooled, "latent_symmetry": "none"})):
        train(folder, tmp_path / run, options, device="cpu", progress=False, warn=lambda _: None)
    emb = load_embeddings(tmp_path / "pooled" / "embeddings.npz")
    row = {path: i for i, path in enumerate(emb.paths)}
    for name in ("flipped", "turned"):
        for array in (emb.latent, emb.disk):
            np.testing.assert_allclose(
                array[row[f"{name}.png"]], array[row["plain.png"]], rtol=1e-4, atol=1e-5
            )
    again, _ = embed_samples(folder, tmp_path / "pooled", device="cpu", progress=False)
    np.testing.assert_allclose(again.latent, emb.latent, rtol=1e-4, atol=1e-5)
    plain = load_embeddings(tmp_path / "plain" / "embeddings.npz")
    assert not np.allclose(plain.latent[row["flipped.png"]], plain.latent[row["plain.png"]])


def test_a_finished_run_resumed_with_new_latent_symmetry_stores_it(tmp_path):
    """`train --resume --latent-symmetry X` on a finished run embeds it again with X and
    keeps X in the checkpoint, so `embed` (and `assign`) read images as the run does."""
    from infohier_cli.embed import embed_samples

    rng = np.random.default_rng(2)
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(folder / f"{i}.png")
    options = {**TINY, "epochs": 1, "latent_symmetry": "none"}
    train(folder, tmp_path / "run", options, device="cpu", progress=False, warn=lambda _: None)
    weights = Checkpoint.load(tmp_path / "run" / "checkpoint.pt").model
    options["latent_symmetry"] = "dihedral"
    train(folder, tmp_path / "run", options, resume=True, device="cpu", progress=False,
          warn=lambda _: None)  # fmt: skip
    stored = Checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    assert (stored.config.latent_symmetry, stored.epoch) == ("dihedral", 1)
    assert all(torch.equal(stored.model[name], weights[name]) for name in weights)
    again, _ = embed_samples(folder, tmp_path / "run", device="cpu", progress=False)
    emb = load_embeddings(tmp_path / "run" / "embeddings.npz")
    np.testing.assert_allclose(again.latent, emb.latent, rtol=1e-4, atol=1e-5)


def test_check_finite_names_the_first_bad_step_and_empties_the_list():
    from infohier_cli.training.fit import NonFiniteLoss, check_finite

    values = [1.0, 2.0, float("nan"), float("inf")]  # steps 5..8 (0-based) of epoch 3
    unchecked = [torch.tensor(v) for v in values]
    with pytest.raises(NonFiniteLoss, match=r"became nan in epoch 3, step 8;"):
        check_finite(unchecked, last_step=8, epoch=2, lr=0.1)
    assert unchecked == []
    finite = [torch.tensor(1.0), torch.tensor(0.5)]
    check_finite(finite, last_step=1, epoch=0, lr=0.1)  # no error
    assert finite == []


def test_to_device_keeps_a_cpu_tensor_as_it_is():
    from infohier_cli.runtime.device import to_device

    x = torch.arange(6).reshape(2, 3)
    assert to_device(x, torch.device("cpu")) is x

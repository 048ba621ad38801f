"""`train --init-from`: the encoder's starting weights, from an earlier run or from a
torchvision ResNet-18 state-dict file the user already has. Nothing is downloaded; every
file is read with `torch.load(weights_only=True)` (run.py).

What is taken (everything else starts from the run's seeded initialisation):

- **An infohier run** (its folder, or its `checkpoint.pt`): the whole encoder, i.e. the
  ResNet-18 backbone and the projection head, weights and batch-norm statistics. Not the
  ball head, the optimisers, the schedules or the epoch count: the new run starts at epoch
  0 with its own settings. The earlier run's `--width`, `--proj-dim`, channel count and
  stem (images of at most 64 px get the 3x3 stem, larger ones the 7x7 one) must be the
  new run's; a difference is a UserError naming the option to pass.
- **A torchvision ResNet-18 state dict** (`torch.save(resnet18().state_dict(), f)`: keys
  `conv1.weight`, `bn1.*`, `layer1.0.conv1.weight` ... `layer4.1.bn2.*`, `fc.*`): the
  backbone; `fc` (the ImageNet classifier) is dropped, the projection head starts fresh.
  Its width is 64, so the run needs `--width 64`. Its first convolution W, shape
  (64, 3, 7, 7), is adapted to the run (`adapt_first_conv`):
    channels C: C = 3 as is; C = 1: W summed over its 3 input channels (a grey image
      seen as RGB, x repeated 3 times, gives exactly the same response); other C: the RGB
      filters repeated cyclically over the C channels, times 3/C (timm's
      `adapt_input_conv`; the 3/C keeps the response about as large as an RGB image's);
    stem: images of at most 64 px use a 3x3 stride-1 stem with no max-pool: W is
      area-resampled to 3x3, W' = R W Rᵀ (`area_matrix`), which keeps each filter's
      response to a constant image (its sum).
  The images are not normalised with ImageNet's mean and std: the weights see infohier's
  intensities in [0, 1] and batch norm adapts during training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from infohier_cli.config import TrainConfig
from infohier_cli.errors import UserError
from infohier_cli.model.encoder import SMALL_IMAGE_MAX, Encoder
from infohier_cli.run import Checkpoint, RunDir, checked_state, is_checkpoint_state, read_torch_file

TORCHVISION_WIDTH = 64
TORCHVISION_MARKERS = ("conv1.weight", "bn1.weight", "layer4.1.bn2.weight")


@dataclass(frozen=True)
class InitSource:
    """A file of starting weights, read: an infohier checkpoint (`run` set) or a
    torchvision ResNet-18 state dict (`tensors`: its entries, torchvision's names)."""

    path: Path
    run: Checkpoint | None = None
    tensors: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class EncoderStart:
    """Entries of `Encoder.state_dict()` to start from (`state`, which covers every key
    under `prefix` except batch-norm step counters) and one line saying what they are."""

    state: dict[str, torch.Tensor]
    prefix: str
    note: str
    path: Path
    file_prefix: str = ""  # what the file's keys have in place of `prefix`, for messages


def read_init(text: str) -> InitSource:
    """Read `--init-from`: a run folder, a checkpoint or a torchvision state-dict file."""
    path = Path(text)
    if path.is_dir():
        if not RunDir(path).holds_run():
            raise UserError(f"--init-from {path}: a folder, but not a run (no checkpoint.pt)")
        path = RunDir(path).checkpoint
    elif not path.is_file():
        raise UserError(f"--init-from {path}: no such run folder or weights file")
    state: Any = read_torch_file(path, "weights file")
    if is_checkpoint_state(state):
        return InitSource(path, run=Checkpoint.from_state(checked_state(state, path)))
    if isinstance(state, dict) and all(key in state for key in TORCHVISION_MARKERS):
        if all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
            return InitSource(path, tensors=state)
    raise UserError(
        f"--init-from {path}: neither an infohier run nor a torchvision ResNet-18 state dict "
        f"(which has tensors named {', '.join(TORCHVISION_MARKERS)}, ...)"
    )


def encoder_start(source: InitSource, config: TrainConfig, channels: int) -> EncoderStart:
    """The entries of the new run's encoder that `source` provides, adapted to it (see the
    module docstring); UserError when they cannot fit (width, channels, stem, proj-dim)."""
    small = config.image_size <= SMALL_IMAGE_MAX
    where = f"--init-from {source.path}"
    if source.run is not None:
        theirs = source.run.config
        differences = [
            ("--width", theirs.width, config.width),
            ("--proj-dim", theirs.proj_dim, config.proj_dim),
            ("--channels", source.run.in_channels, channels),
        ]
        for option, old, new in differences:
            if old != new:
                raise UserError(
                    f"{where}: that run has {option} {old}, this one {new}; pass {option} {old}"
                )
        if (theirs.image_size <= SMALL_IMAGE_MAX) != small:
            raise UserError(
                f"{where}: that run's images were {theirs.image_size} px, this run's "
                f"{config.image_size} px, and the first layer differs (3x3 up to "
                f"{SMALL_IMAGE_MAX} px, 7x7 above); pass --image-size {theirs.image_size}"
            )
        state = {
            key.removeprefix("encoder."): tensor
            for key, tensor in source.run.model.items()
            if key.startswith("encoder.")
        }
        note = (
            "encoder initialised from the encoder (backbone and projection head) of the run "
            f"in {source.path.parent}"
        )
        return fitted(EncoderStart(state, "", note, source.path, "encoder."), config, channels)
    tensors = source.tensors or {}
    width = tensors["conv1.weight"].shape[0]
    if width != config.width:
        raise UserError(
            f"{where} is a torchvision ResNet-18 of width {width}; "
            f"this run has --width {config.width}: pass --width {width}"
        )
    kernel = 3 if small else 7
    state = {
        f"backbone.{key}": tensor for key, tensor in tensors.items() if not key.startswith("fc.")
    }
    state["backbone.conv1.weight"] = adapt_first_conv(tensors["conv1.weight"], channels, kernel)
    note = (
        f"encoder backbone initialised from the torchvision ResNet-18 in {source.path} "
        f"(first convolution adapted to {channels} channel{'s' * (channels != 1)} and a "
        f"{kernel}x{kernel} stem; projection head and ball head fresh)"
    )
    return fitted(EncoderStart(state, "backbone.", note, source.path), config, channels)


def adapt_first_conv(weight: torch.Tensor, channels: int, kernel: int) -> torch.Tensor:
    """W (O, 3, k, k) -> (O, channels, kernel, kernel), as the module docstring says:
    channels by summing (1), keeping (3) or repeating x 3/C (other C); size by area
    resampling R W Rᵀ, R = area_matrix(k, kernel), so that each filter's sum is kept."""
    weight = weight.float()
    if channels == 1:
        weight = weight.sum(dim=1, keepdim=True)
    elif channels != weight.shape[1]:
        repeats = -(-channels // weight.shape[1])
        weight = weight.repeat(1, repeats, 1, 1)[:, :channels] * (weight.shape[1] / channels)
    if kernel != weight.shape[-1]:
        area = area_matrix(weight.shape[-1], kernel)
        weight = torch.einsum("ij,ocjl,kl->ocik", area, weight, area)
    return weight.contiguous()


def area_matrix(size: int, kernel: int) -> torch.Tensor:
    """R (kernel, size): R[i, j] = length of [i·size/kernel, (i+1)·size/kernel) ∩ [j, j+1),
    the share of input pixel j in output cell i. Each column sums to 1, so a filter
    resampled as R W Rᵀ keeps its sum Σ W (its response to a constant image)."""
    edges = torch.arange(kernel + 1, dtype=torch.float32) * size / kernel
    pixels = torch.arange(size, dtype=torch.float32)
    low = torch.maximum(edges[:-1, None], pixels[None, :])
    high = torch.minimum(edges[1:, None], pixels[None, :] + 1)
    return (high - low).clamp(min=0.0)


def fitted(start: EncoderStart, config: TrainConfig, channels: int) -> EncoderStart:
    """`start`, once every entry fits the run's encoder; UserError on an unknown, missing or
    misshapen entry (a file that is not a ResNet-18, or was altered), naming the entry as
    the file does. Checked before the plan is printed or anything written."""
    with torch.device("meta"):  # shapes only, no memory
        encoder = Encoder(channels, config.image_size, config.width, config.proj_dim)
    expected = encoder.state_dict()
    where = f"--init-from {start.path}"
    for key, tensor in start.state.items():
        name = start.file_prefix + key.removeprefix(start.prefix)
        if key not in expected:
            raise UserError(f"{where}: unexpected weight {name!r} (not a ResNet-18 encoder)")
        if tensor.shape != expected[key].shape:
            raise UserError(
                f"{where}: weight {name!r} has shape {tuple(tensor.shape)}, this run's "
                f"encoder needs {tuple(expected[key].shape)}"
            )
    missing = [
        key
        for key in expected
        if key.startswith(start.prefix)
        and key not in start.state
        and not key.endswith("num_batches_tracked")
    ]
    if missing:
        name = start.file_prefix + missing[0].removeprefix(start.prefix)
        raise UserError(f"{where}: weight {name!r} is missing (not a ResNet-18 encoder)")
    return start


def load_encoder(encoder: nn.Module, start: EncoderStart) -> None:
    """Copy `start.state` (checked by `fitted`) into `encoder`; the entries it does not
    cover (the batch-norm step counters, a fresh head) keep their values."""
    encoder.load_state_dict({**encoder.state_dict(), **start.state})

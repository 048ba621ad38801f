"""Every training setting, defined once: name, type, default, allowed values and help.

Each field of `TrainConfig` carries its command-line metadata (`setting(...)`): the help
text, the allowed values (`choices`), bounds, a custom flag (for on/off pairs), and
whether `--resume` may change it. The CLI (`infohier_cli/cli/options.py`) builds one
`infohier train --OPTION` per field from this, with the default and the choices shown in
`--help`; checkpoints store the config as JSON; the library only reads it.
Defaults are the measured ones (see BENCHMARKS.md for the experiments behind them).

To add a training setting, add one field here, e.g.

    time_budget: float = setting(0.0, "Stop after this many minutes; 0 = no budget.",
                                 min=0.0, resumable=True)

and use `config.time_budget` where it matters. That is all: `--time-budget` appears in
`infohier train --help` with its default, the help test checks it, checkpoints save it,
and `--resume` refuses a changed value unless `resumable=True`. Add a check to
`__post_init__` if the value has constraints beyond `choices`/`min`/`max`. A checkpoint
written before the field existed loads with the field's default.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from infohier_cli.errors import UserError

RADIUS_MODES = ("fixed", "free")
INTENSITY_MODES = ("auto", "percentile", "fixed")
NAMED_CHANNELS = {"gray": 1, "rgb": 3}  # --channels by name; "auto" lets the images decide
MAX_CHANNELS = 1024
FIT_MODES = ("auto", "crop", "pad")
SYMMETRIES = ("auto", "none", "hflip", "dihedral")
SWITCHES = ("auto", "on", "off")  # GPU-path settings: auto = on for CUDA (runtime/device.py)
DAMAGED_SETTINGS = "the checkpoint's stored settings are damaged"  # a hand-edited file


def fixed_channels(policy: str) -> int | None:
    """The channel count a `--channels` policy fixes: gray 1, rgb 3, a decimal number
    itself; None for auto (the images decide) and for anything else."""
    if policy in NAMED_CHANNELS:
        return NAMED_CHANNELS[policy]
    return int(policy) if policy.isascii() and policy.isdigit() else None


BUDGET_FORMAT = "--time-budget must be a duration such as 90s, 10m or 1.5h (0 = none)"
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def budget_seconds(text: str) -> float | None:
    """'90s' -> 90.0, '10m' -> 600.0, '1.5h' -> 5400.0, a bare number = minutes, '0' -> 0.0;
    None if `text` is not a duration."""
    text = text.strip().lower()
    scale = _UNIT_SECONDS.get(text[-1:], None)
    number = text[:-1] if scale else text
    try:
        value = float(number) * (scale or 60.0)
    except ValueError:
        return None
    return value if value >= 0 and value != float("inf") else None


def setting(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    flag: str | None = None,
    min: float | None = None,
    max: float | None = None,
    resumable: bool = False,
    shown: str | None = None,
    auto: Any = None,
    before: Any = None,
) -> Any:
    """A TrainConfig field with its command-line metadata.

    `choices`: the allowed values (shown in --help, checked here); `flag`: the option's
    declaration when it is not `--field-name` (e.g. "--center-similarity/--raw-similarity");
    `min`/`max`: bounds checked with the other validation (a UserError names the flag);
    `resumable`: `--resume` may change it; `shown`: the default as `--help` words it, when
    the value itself says little (an empty string, say); `auto`: the value that lets train
    choose (a new run stores its choice, and `--resume` given `auto` keeps that choice);
    `before`: the value a checkpoint written before the field existed ran with (read back
    when its stored config lacks the field; None = the default).
    """
    return field(
        default=default,
        metadata={
            "help": help,
            "choices": choices,
            "flag": flag,
            "min": min,
            "max": max,
            "resumable": resumable,
            "shown": shown,
            "auto": auto,
            "before": before,
        },
    )


def resumable_options() -> list[str]:
    """The flags of the settings `--resume` may change (`resumable=True`), in field order."""
    return [option_name(f) for f in dataclasses.fields(TrainConfig) if f.metadata.get("resumable")]


def option_name(config_field: dataclasses.Field) -> str:
    """The main command-line flag of a TrainConfig field, e.g. '--image-size'."""
    flag = config_field.metadata.get("flag")
    if flag:
        return flag.split("/")[0]
    return "--" + config_field.name.replace("_", "-")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (what a checkpoint needs to rebuild the model).

    Data: `image_size`, `fit`, `channels`, `intensity`, `max_megapixels`. Model: `width`,
    `proj_dim`, `ball_dim`, `radius`, `r_max`. Loss: L = lambda_ct·NT-Xent(tau_ct) +
    lambda_hc·Dasgupta-triplet (tau_hc) on `triplets_per_image`·B triplets per batch, with the
    latent similarity (`center_similarity`, `detach_similarity`, `similarity_knn`).
    Optimisation: `epochs` (0 = auto from `steps`, or from `time_budget`: see
    training/plan.py), `batch_size` (global), `lr`, `encoder_lr_scale`, `weight_decay`,
    `warmup_epochs`. Augmentation: `symmetry`, `crop_scale_min`, `local_crops`, `blur_prob`,
    `jitter`, `color_jitter`. Embedding: `latent_symmetry`. `seed`. Samples: `group` (several
    channel files per sample, data/group.py; "" = one file each). Start: `init_from` (the
    encoder's first weights, training/init_from.py; "" = random; kept as provenance).
    Each field's help text says what it does.
    """

    image_size: int = setting(
        0,
        "Images are made square (--fit) and resized to S x S; 0 = auto: twice the "
        "median side of those squares, within 16..32 (16..64 on CUDA), then smaller if "
        "the images hold no more detail than a smaller side keeps (upscaled pictures).",
        min=0,
        max=1024,
        auto=0,
    )
    fit: str = setting(
        "auto",
        "How a non-square image is made square: crop (the largest centred square), pad "
        "(the whole image, centred on its border's median colour), or auto (pad when the "
        "images' border is a plain background, as around a tight crop of one object; "
        "else crop).",
        choices=FIT_MODES,
    )
    channels: str = setting("auto", "auto (most common in the folder), gray, rgb, or a number.")
    intensity: str = setting(
        "auto",
        "auto (8-bit /255, deeper data per-channel percentile scaling), percentile, "
        "or fixed (divide by the dtype's maximum, for calibrated data).",
        choices=INTENSITY_MODES,
    )
    max_megapixels: float = setting(
        100.0,
        "Skip images with more pixels than this many million, before decoding them "
        "(decompression bombs; each 3 channels or TIFF pages beyond the first 3 count as "
        "a further image); 0 = no limit.",
        min=0.0,
        resumable=True,
    )
    width: int = setting(
        32, "ResNet-18 width (64 = torchvision's; latent size is 8x this).", min=4, max=512
    )
    proj_dim: int = setting(
        128, "Output size of the projection head that feeds NT-Xent.", min=1, max=8192
    )
    ball_dim: int = setting(
        16,
        "Dimension of the Poincare ball. 16 holds more hierarchy than the 2-D disk; its "
        "exact decoding is `tree --source disk` (the default tree uses the latents); "
        "2 = HypHC's disk.",
        min=2,
        max=512,
    )
    radius: str = setting(
        "free",
        "fixed: every image at radius r-max (HypHC); free: learnt radius, at most r-max.",
        choices=RADIUS_MODES,
    )
    r_max: float = setting(0.95, "Largest radius in the Poincare ball.")
    epochs: int = setting(
        0,
        "Training epochs (with --resume: the new total); 0 = auto: as many as --steps "
        "optimiser steps need, so small folders get more epochs and large ones fewer "
        "(with --resume: the run's own plan).",
        min=0,
        resumable=True,
        auto=0,
    )
    steps: int = setting(
        0,
        "Optimiser steps that auto --epochs plans for (training length by compute); 0 = "
        "auto: 600 for images of 32 px or more, 600 x 32 / S below (a smaller image's step "
        "costs less).",
        min=0,
        auto=0,
        before=600,
    )
    time_budget: str = setting(
        "0",
        "Train for this long instead (e.g. 90s, 10m, 1.5h; a bare number is minutes; 0 = no "
        "budget): the epochs are "
        "planned from the measured epoch times and re-planned after every epoch.",
    )
    batch_size: int = setting(64, "Global batch size: images per step over all processes.", min=3)
    lr: float = setting(1e-3, "Learning rate.")
    encoder_lr_scale: float = setting(1.0, "Encoder learning rate = lr x this.")
    weight_decay: float = setting(1e-4, "AdamW weight decay.", min=0.0)
    lambda_ct: float = setting(1.0, "Weight of the contrastive (NT-Xent) loss.", min=0.0)
    lambda_hc: float = setting(
        1.0, "Weight of the hierarchical (Dasgupta triplet) loss; 0 = SSL only.", min=0.0
    )
    tau_ct: float = setting(
        0.5,
        "NT-Xent temperature: higher keeps groups of similar images together (the tree's "
        "upper levels), lower sets every image apart (BENCHMARKS.md, 'The contrastive "
        "temperature').",
    )
    tau_hc: float = setting(
        0.2,
        "Softmax temperature of the triplet loss over the three LCA depths: higher keeps "
        "its gradient alive when the depths differ little (HypHC's 0.05 gave 0.016 less "
        "superclass purity: BENCHMARKS.md, 'A softer triplet loss').",
    )
    warmup_epochs: int = setting(
        -1,
        "Contrastive-only epochs before the hierarchical loss joins; -1 = auto: a sixth "
        "of the epochs.",
        min=-1,
    )
    triplets_per_image: int = setting(8, "Triplets sampled per image in each batch.", min=1)
    center_similarity: bool = setting(
        True,
        "Centre latents on the batch mean before the cosine similarity.",
        flag="--center-similarity/--raw-similarity",
    )
    detach_similarity: bool = setting(
        True,
        "Stop the hierarchical loss's gradient through the similarities.",
        flag="--detach-similarity/--live-similarity",
    )
    similarity_knn: int = setting(
        0,
        "Similarities for the hierarchical loss: 0 = the latents' cosine; k = the batch's "
        "k-nearest-neighbour graph of those cosines (training/similarity.py).",
        min=0,
    )
    symmetry: str = setting(
        "none",
        "Mirror images treated as the same image: none, hflip (left-right), dihedral (all "
        "flips and 90-degree turns: data with no 'up', e.g. microscopy), or auto: the flips "
        "under which the images look like the folder's own (training/symmetry.py).",
        choices=SYMMETRIES,
        auto="auto",
    )
    latent_symmetry: str = setting(
        "auto",
        "Mirror images given the same latent (each image's latent is the mean over its "
        "mirror images, training/symmetry.py): none, hflip (the image and its left-right "
        "mirror), dihedral (its 8 flips and 90-degree turns), or auto: chosen from the "
        "images as for --symmetry. Training's views are --symmetry's.",
        choices=SYMMETRIES,
        auto="auto",
        resumable=True,
        before="none",
    )
    crop_scale_min: float = setting(0.3, "Smallest crop area of the random resized crop.")
    crop_aspect: float = setting(
        4 / 3,
        "Largest aspect ratio (long side / short side) of the random resized crop, whose "
        "view is then resized square, so it stretches the image by up to this; 1 = square "
        "crops, no stretch.",
        min=1.0,
        shown="1.333",
    )
    blur_prob: float = setting(0.3, "Probability of a Gaussian blur.")
    local_crops: int = setting(
        0,
        "Multi-crop: small views per image at half the image size (crop area 0.05 to "
        "--crop-scale-min), each contrasted with both full views; 0 = off. Auto steps "
        "count their pixels.",
        min=0,
        before=0,
    )
    jitter: float = setting(0.4, "Brightness/contrast jitter strength.", min=0.0)
    color_jitter: float = setting(
        0.0, "Saturation/hue jitter of three-channel images (read as RGB); 0 = off.", min=0.0
    )
    batch_augment: str = setting(
        "auto",
        "Make the views of a whole batch at once with tensor ops on the device, instead of "
        "per image in the data loader: auto (on CUDA), on, off.",
        choices=SWITCHES,
        resumable=True,
    )
    amp: str = setting(
        "auto",
        "Mixed precision (bfloat16 autocast of the encoder; the ball and the losses stay "
        "float32): auto (on a CUDA device, and on a CPU with AMX or an AMD CPU with "
        "AVX512-BF16, where it trains faster), on, off.",
        choices=SWITCHES,
        resumable=True,
    )
    channels_last: str = setting(
        "auto",
        "Channels-last memory format for the convolutions: auto (on CUDA), on, off.",
        choices=SWITCHES,
        resumable=True,
    )
    seed: int = setting(0, "Random seed; a CPU run with the same seed is reproducible.", min=0)
    group: str = setting(
        "",
        "One sample = several channel files: a regex with named groups (?P<sample>...) "
        "and (?P<channel>...), searched in each relative path; channels stacked in sorted "
        "order, incomplete samples skipped and reported. embed and assign of the run use it.",
        shown="none: each file is a sample",
    )
    init_from: str = setting(
        "",
        "Start the encoder from an earlier run (its folder or checkpoint.pt: backbone and "
        "projection head) or from a local torchvision ResNet-18 state-dict file (backbone; "
        "needs --width 64). Nothing is downloaded. --resume continues from the run's own "
        "checkpoint (and refuses another --init-from).",
        shown="none: random initialisation",
    )

    def __post_init__(self) -> None:
        checks = [
            (self.image_size == 0 or self.image_size >= 8, "--image-size must be 0 (auto) or >= 8"),
            (self.width >= 4, "--width must be at least 4"),
            (self.ball_dim >= 2, "--ball-dim must be at least 2"),
            (0.0 < self.r_max < 1.0, "--r-max must lie in (0, 1)"),
            (budget_seconds(self.time_budget) is not None, BUDGET_FORMAT),
            (self.batch_size >= 3, "--batch-size must be at least 3"),
            (self.lr > 0, "--lr must be positive"),
            (self.encoder_lr_scale > 0, "--encoder-lr-scale must be positive"),
            (self.lambda_ct + self.lambda_hc > 0, "at least one loss weight must be > 0"),
            (self.tau_ct > 0, "--tau-ct must be positive"),
            (self.tau_hc > 0, "--tau-hc must be positive"),
            (self.triplets_per_image >= 1, "--triplets-per-image must be at least 1"),
            (
                self.channels == "auto"
                or 1 <= (fixed_channels(self.channels) or 0) <= MAX_CHANNELS,
                "--channels must be auto, gray, rgb or a number of channels"
                f" from 1 to {MAX_CHANNELS}",
            ),
            (0.0 < self.crop_scale_min <= 1.0, "--crop-scale-min must lie in (0, 1]"),
            (0.0 <= self.blur_prob <= 1.0, "--blur-prob must lie in [0, 1]"),
        ]
        bounds = []  # checked first: their messages name one option
        for config_field in dataclasses.fields(self):
            choices = config_field.metadata.get("choices")
            value, low, high = (
                getattr(self, config_field.name),
                config_field.metadata.get("min"),
                config_field.metadata.get("max"),
            )
            if isinstance(value, float) and not math.isfinite(value):
                bounds.append((False, f"{option_name(config_field)} must be a finite number"))
                continue
            if isinstance(value, int) and not -(2**63) < value < 2**63:
                bounds.append((False, f"{option_name(config_field)} must lie within ±2^63"))
                continue
            if choices and value not in choices:
                bounds.append((False, f"{option_name(config_field)} must be one of {choices}"))
            if low is not None and value < low:
                bounds.append((False, f"{option_name(config_field)} must be at least {low}"))
            if high is not None and value > high:
                bounds.append((False, f"{option_name(config_field)} must be at most {high}"))
        for ok, message in bounds + checks:
            if not ok:
                raise UserError(message)
        if self.group:
            from infohier_cli.data.group import compile_group

            compile_group(self.group)  # a UserError naming --group

    @property
    def warmup(self) -> int:
        """Contrastive-only epochs: `warmup_epochs`, or for -1 (auto) a sixth of `epochs`."""
        return self.warmup_epochs if self.warmup_epochs >= 0 else self.epochs // 6

    @property
    def flips(self) -> tuple[bool, bool]:
        """(left-right flips on, up-down flips and quarter turns on too) for `symmetry`.
        'auto' has no flips of its own: `train` resolves it from the folder first
        (training/symmetry.py)."""
        if self.symmetry == "auto":
            raise ValueError("symmetry 'auto' must be resolved before views are made")
        return self.symmetry in ("hflip", "dihedral"), self.symmetry == "dihedral"

    @property
    def max_pixels(self) -> int:
        """`max_megapixels` in pixels (0 = no limit; any positive limit is at least 1)."""
        pixels = round(self.max_megapixels * 1_000_000)
        return max(pixels, 1) if self.max_megapixels > 0 else 0

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with `changes` applied; `None` values mean "keep"."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def changed(self, other: TrainConfig) -> list[str]:
        """Names of the fields whose values differ between `self` and `other`."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The settings `to_json` wrote; fields added since take their `before` value.
        UserError if the text is damaged: not a JSON object, or a value of the wrong type
        or out of bounds (a hand-edited checkpoint)."""
        fields = dataclasses.fields(cls)
        older = {f.name: f.metadata["before"] for f in fields if f.metadata["before"] is not None}
        try:
            values = json.loads(text)
            stored = {f.name: values[f.name] for f in fields if f.name in values}
            return cls(**{**older, **stored})
        except (ValueError, TypeError, UserError) as error:
            raise UserError(f"{DAMAGED_SETTINGS}: {error}") from None

    def unresolved(self) -> list[str]:
        """The options still at their `auto` value (train resolves each of them before
        it stores the settings in a checkpoint)."""
        return [
            option_name(f)
            for f in dataclasses.fields(self)
            if f.metadata["auto"] is not None and getattr(self, f.name) == f.metadata["auto"]
        ]

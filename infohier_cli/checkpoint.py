"""Checkpoints: plain tensors, numbers and strings only, loaded with `weights_only=True`.

A checkpoint from a stranger can therefore not run code: anything that needs arbitrary
unpickling is refused with a UserError (one clear line), as is a corrupt or foreign file.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from infohier_cli.atomic import atomic_path
from infohier_cli.config import TrainConfig
from infohier_cli.errors import UserError

FORMAT = "infohier-checkpoint/1"
REQUIRED_KEYS = ("format", "config", "in_channels", "epoch", "model", "images")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` (with FORMAT added) atomically: temp file in the same folder, rename."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint safely (weights_only=True); UserError if refused, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # a plain pickle file: refused below, not warned about
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unsafe content"
        raise UserError(f"refused to load {path}: it holds objects a safe load may not "
                        f"create ({reason[:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise UserError(f"cannot read checkpoint {path}: corrupt or not a checkpoint "
                        f"({type(error).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or any(
        key not in state for key in REQUIRED_KEYS
    ):
        raise UserError(f"{path} is not an infohier checkpoint ({FORMAT})")
    return state


def config_of(state: dict[str, Any]) -> TrainConfig:
    """The TrainConfig stored in a checkpoint."""
    return TrainConfig.from_json(state["config"])


def load_model(path: Path):
    """Rebuild the model of a checkpoint in eval mode -> (model, config, state)."""
    from infohier_cli.model import InfoHierModel

    state = load_checkpoint(path)
    config = config_of(state)
    model = InfoHierModel(config, int(state["in_channels"]))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise UserError(f"checkpoint {path} does not match this version's model") from None
    return model.eval(), config, state

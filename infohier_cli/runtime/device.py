"""Device choice: `auto` takes CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from infohier_cli.errors import UserError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def pick_device(name: str) -> torch.device:
    """torch.device for 'auto' | 'cpu' | 'cuda' (or 'cuda:N'); UserError if unavailable."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError("--device cuda asked for, but no CUDA device is available")
        return torch.device(name)
    raise UserError(f"--device must be one of {DEVICE_CHOICES}, not {name!r}")


def default_workers(device: torch.device) -> int:
    """Data-loading processes: none on the CPU (they would steal the cores that compute)."""
    import os

    return 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)

"""infohier: the hierarchy hidden in any folder of images (InfoHier, Zhang et al. 2025)."""

import os
import warnings

__version__ = "0.1.0"

# geoopt decorates functions with torch.jit.script, which torch >= 2.10 deprecates; that one
# warning says nothing to our users, so it (and only it) is filtered.
warnings.filterwarnings(
    "ignore", message=r"`torch\.jit\.script(_method)?` is deprecated", category=FutureWarning
)

# TorchScript's profiling executor re-optimises geoopt's scripted functions after their
# first calls, so a process resumed from a checkpoint computed its first steps with other
# rounding than the straight run and ended elsewhere. Run them eagerly (read by torch when
# it is imported, hence before any torch import): a CPU run then resumes bit for bit.
os.environ.setdefault("PYTORCH_JIT", "0")

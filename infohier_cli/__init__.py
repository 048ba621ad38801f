"""infohier: the hierarchy hidden in any folder of images (InfoHier, Zhang et al. 2025)."""

import warnings

__version__ = "0.1.0"

# geoopt decorates functions with torch.jit.script, which torch >= 2.10 deprecates; that one
# warning says nothing to our users, so it (and only it) is filtered.
warnings.filterwarnings(
    "ignore", message=r"`torch\.jit\.script(_method)?` is deprecated", category=FutureWarning
)

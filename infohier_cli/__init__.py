"""infohier: the hierarchy hidden in any folder of images (InfoHier, Zhang et al. 2025)."""

__version__ = "0.1.0"

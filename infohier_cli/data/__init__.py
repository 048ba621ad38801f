"""Images in: discovery (`discover`), samples (`samples`), reading (`read`), and the
decoded folder (`folder`). The names most callers need are re-exported here."""

from infohier_cli.data.discover import IMAGE_SUFFIXES, discover_images, discover_samples
from infohier_cli.data.folder import ImageFolder, scan_folder
from infohier_cli.data.read import (
    ImageSpec,
    load_image,
    load_sample,
    match_channels,
    read_pixels,
    resolve_channels,
    resolve_fit,
    resolve_image_size,
    resolve_spec,
    sample_shapes,
    square_resize,
    square_side,
    to_unit_range,
)
from infohier_cli.data.samples import Sample, as_samples, one_file_samples

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolder",
    "ImageSpec",
    "Sample",
    "as_samples",
    "discover_images",
    "discover_samples",
    "load_image",
    "load_sample",
    "match_channels",
    "one_file_samples",
    "read_pixels",
    "resolve_channels",
    "resolve_fit",
    "resolve_image_size",
    "resolve_spec",
    "sample_shapes",
    "scan_folder",
    "square_resize",
    "square_side",
    "to_unit_range",
]

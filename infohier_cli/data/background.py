"""Whether a folder's images are objects on a background: the content half of `--fit auto`.

Tight crops around one object (flow-imaging and plankton crops, segmented cells) differ in
aspect ratio, and the centred square ('crop') cuts a long object down to a piece of its
middle, while the whole image on a square of its background ('pad') keeps its outline.
Where the content fills the frame (photographs, texture patches), 'pad' only shrinks the
content and adds borders that are not background. For an image x (C, H, W) with border
pixels B (its outermost rows and columns) and m_c the median of channel c over B:

    share(x) = mean_c [ mean_{p ∈ B} |x_cp − m_c| / mean_p |x_cp − m_c| ]

the border's spread about its own median as a share of the whole image's spread about
it: near 0 for an object on a plain background, about 1 where the border looks like the
rest of the image (a flat channel counts 0). 'auto' takes 'pad' when the median share
over the folder's sampled non-square images is below `BACKGROUND_SHARE_MAX`, else 'crop';
with no non-square image the two are the same, and it takes 'crop'. On the development
suite (BENCHMARKS.md, sessions 17–18): particles 0.27 (tight crops; over seeds 0–2 pad
is level at the class level, +0.055 superclass DP, +0.008 without the hierarchical
loss), frames 1.12 (photograph patches of varied aspect; pad −0.115 class DP); the
square folders, where the rule is not applied, from 0.08 (cells16) to 1.10 (photos).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BACKGROUND_SHARE_MAX = 0.5  # a border spread below this share of the image's is background


def border_share(pixels: np.ndarray) -> float:
    """share(x) of the module docstring for one (C, H, W) image, any dtype."""
    image = np.nan_to_num(pixels.astype(np.float64))
    border = np.concatenate([image[:, 0], image[:, -1], image[:, :, 0], image[:, :, -1]], axis=1)
    median = np.median(border, axis=1)[:, None]  # (C, 1)
    border_spread = np.abs(border - median).mean(axis=1)
    whole_spread = np.abs(image.reshape(len(image), -1) - median).mean(axis=1)
    shares = np.where(whole_spread > 0, border_spread / np.maximum(whole_spread, 1e-300), 0.0)
    return float(shares.mean())


def background_fit(images: Sequence[np.ndarray]) -> tuple[str, float]:
    """'pad' or 'crop' for the sampled non-square (C, H, W) `images` by the rule of the
    module docstring, and their median share (NaN and 'crop' when there are none)."""
    if not images:
        return "crop", float("nan")
    share = float(np.median([border_share(image) for image in images]))
    return ("pad" if share < BACKGROUND_SHARE_MAX else "crop"), share

"""Single linkage on the latents (`--source single`; the default tree before the diffusion tree).

Latents are L2-normalised, not centred (the backbone's features are non-negative, and
their plain cosine is what a kNN probe of a SimCLR encoder uses; centring lowered purity on
digits, 0.852 against 0.879), so the distance of two images is
d(i, j) = ‖u_i − u_j‖ = sqrt(2 − 2 cos θ_ij), a monotone function of their cosine.
Single linkage merges, at each step, the two clusters holding the closest pair of
images; its merge heights are the edges of the minimum spanning tree:

    h(A ∪ B) = min_{i ∈ A, j ∈ B} d(i, j).

It follows chains of near neighbours, which is what contrastive latents are made of
(each image's augmented views and nearest images are pulled together): on the development
suite its trees had higher dendrogram purity than Ward's on the same latents and than the
ball's decoding, but one stray pair bridges two classes, and the diffusion tree
(`diffusion.py`) scored higher still (BENCHMARKS.md). Exact; it holds the n²/2 pairwise
distances (0.4 GB at 10,000 images).
"""

from __future__ import annotations

import numpy as np

from infohier_cli.training.similarity import normalise
from infohier_cli.trees.ward import condensed_distances


def single_linkage(latent: np.ndarray) -> np.ndarray:
    """Single linkage of the normalised latents. (n, D) -> (n−1, 4), scipy's format;
    empty for n < 2."""
    from scipy.cluster.hierarchy import linkage

    if len(latent) < 2:
        return np.zeros((0, 4))
    unit = normalise(latent, mean=np.zeros(latent.shape[1]))
    return linkage(condensed_distances(unit), method="single")

"""The latent similarity: how alike two samples are, from the encoder's latents.

    w_ij = (1 + cos(z_i − m, z_j − m)) / 2  ∈ [0, 1],   m the mean latent (or 0)

One definition, used by the hierarchical loss (within a batch, `latent_similarity`), by the
Dasgupta cost of `infohier eval` (over a whole embeddings file, `pair_similarity` on
`normalise`d latents) and by the latent tree (Ward on the same `normalise`d latents).
Centring matters: ResNet latents are non-negative (ReLU, then pooling), so raw cosines are
all positive and w crowds near 1.
"""

from __future__ import annotations

import numpy as np


def cosine_to_weight(cosine):
    """w = (1 + cos) / 2: a cosine in [−1, 1] to a similarity in [0, 1] (numpy or torch)."""
    return (1.0 + cosine) / 2.0


def latent_similarity(z, *, center: bool = True, detach: bool = True):
    """The similarity matrix of a batch of latents. Shape: z (B, D) torch -> (B, B).

    `center` subtracts the batch mean; `detach` stops gradients through w."""
    import torch.nn.functional as F

    if detach:
        z = z.detach()
    if center:
        z = z - z.mean(dim=0, keepdim=True)
    unit = F.normalize(z, dim=1)
    return cosine_to_weight(unit @ unit.T)


def normalise(
    latent: np.ndarray, mean: np.ndarray | None = None, dtype: type = np.float64
) -> np.ndarray:
    """Centre on the mean and scale each row to unit length. (n, D) -> (n, D) `dtype`.

    `mean` (D,) is the centre m; by default the rows' own mean (summed in float64). New
    samples placed among trained ones (`infohier assign`) are centred on the training mean.
    One new array, changed in place (float32 halves the memory of a million latents)."""
    m = np.asarray(latent).mean(axis=0, dtype=np.float64) if mean is None else np.asarray(mean)
    centred = np.array(latent, dtype=dtype)
    centred -= m[None].astype(dtype)
    centred /= np.maximum(np.sqrt(np.einsum("ij,ij->i", centred, centred)), 1e-12)[:, None]
    return centred


def pair_similarity(unit: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """w for the pairs (i[k], j[k]) of `normalise`d latents. -> (len(i),) float64."""
    return cosine_to_weight(np.einsum("ij,ij->i", unit[i], unit[j]))

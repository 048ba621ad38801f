"""The latent similarity: how alike two samples are, from the encoder's latents.

    w_ij = (1 + cos(z_i − m, z_j − m)) / 2  ∈ [0, 1],   m the mean latent (or 0)

One definition, used by the hierarchical loss (within a batch, `latent_similarity`), by the
Dasgupta cost of `infohier eval` (over a whole embeddings file, `pair_similarity` on
`normalise`d latents) and by the latent tree (Ward on the same `normalise`d latents).
Centring matters: ResNet latents are non-negative (ReLU, then pooling), so raw cosines are
all positive and w crowds near 1.

`--similarity-knn k` gives the hierarchical loss the batch's k-nearest-neighbour graph
instead (`knn_graph`): w_ij = (a_ij + a_ji) / 2, a_ij = 1 if j is among the k most
cosine-similar latents of i in the batch. The ball head fits the plain cosine weights from
the latents alone (the HC loss sits at its floor), so they send nothing back to the
encoder; a neighbour graph is a sharper target, pulling neighbours' latents together.
"""

from __future__ import annotations

import numpy as np


def cosine_to_weight(cosine):
    """w = (1 + cos) / 2: a cosine in [−1, 1] to a similarity in [0, 1] (numpy or torch)."""
    return (1.0 + cosine) / 2.0


def latent_similarity(z, *, center: bool = True, detach: bool = True, knn: int = 0):
    """The similarity matrix of a batch of latents. Shape: z (B, D) torch -> (B, B).

    `center` subtracts the batch mean; `detach` stops gradients through w; `knn` > 0 gives
    the k-nearest-neighbour graph of the cosines (`knn_graph`, no gradient) instead."""
    import torch.nn.functional as F

    if detach or knn:
        z = z.detach()
    if center:
        z = z - z.mean(dim=0, keepdim=True)
    unit = F.normalize(z, dim=1)
    cosine = unit @ unit.T
    return knn_graph(cosine, knn) if knn else cosine_to_weight(cosine)


def knn_graph(cosine, k: int):
    """w_ij = (a_ij + a_ji) / 2 with a_ij = 1 iff j is among the k largest cosine[i, j≠i]
    (k is capped at B − 1). Shape: cosine (B, B) torch -> (B, B) in {0, ½, 1}, zero diagonal."""
    import torch

    b = cosine.shape[0]
    own = torch.eye(b, dtype=torch.bool, device=cosine.device)
    nearest = cosine.masked_fill(own, float("-inf")).topk(min(k, b - 1), dim=1).indices
    adjacency = torch.zeros_like(cosine).scatter_(1, nearest, 1.0)
    return (adjacency + adjacency.T) / 2.0


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

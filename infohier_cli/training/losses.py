"""The joint InfoHier loss: SimCLR's NT-Xent plus HypHC's continuous Dasgupta triplet loss.

    L = λ_ct · L_ct + λ_hc · L_hc

References: Chen et al. 2020 (SimCLR, eq. 1), Chami et al. 2020 (HypHC, eq. 9),
Zhang et al. 2025 (InfoHier: similarities from the encoder's own latents).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from infohier_cli.model.hyperbolic import lca_depth
from infohier_cli.runtime.device import to_device
from infohier_cli.training.similarity import latent_similarity

__all__ = [
    "dasgupta_triplet_loss",
    "joint_loss",
    "latent_similarity",
    "multi_crop_nt_xent",
    "nt_xent",
    "sample_triplets",
]


def nt_xent(p1: torch.Tensor, p2: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent over 2B views; p1[i] and p2[i] are the two views of image i.

    ℓ_i = −log( exp(s(i, i')/τ) / Σ_{k≠i} exp(s(i, k)/τ) ), s = cosine similarity,
    averaged over all 2B anchors.  Shape: p1, p2 (B, D) -> scalar.
    """
    if tau <= 0:
        raise ValueError("tau must be positive")
    views = F.normalize(torch.cat([p1, p2]), dim=1)  # (2B, D)
    logits = views @ views.T / tau  # (2B, 2B)
    n = p1.shape[0]
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = (torch.arange(2 * n, device=logits.device) + n) % (2 * n)  # i <-> i + B
    return F.cross_entropy(logits, positives)


def multi_crop_nt_xent(
    p1: torch.Tensor, p2: torch.Tensor, local: Sequence[torch.Tensor], tau: float
) -> torch.Tensor:
    """NT-Xent over the pairs of views of a multi-crop batch (Caron et al. 2020, SwAV §3.2,
    with SimCLR's loss): the two full views, and each local view with each full view,

        L_ct = ( ℓ(p1, p2) + Σ_v [ℓ(p1, l_v) + ℓ(p2, l_v)] ) / (1 + 2V),

    ℓ = `nt_xent`; local views are not paired with each other (each shows only a part).
    With no local views this is `nt_xent(p1, p2)`.
    Shape: p1, p2 (B, D), local V tensors (B, D) -> scalar.
    """
    pairs = [nt_xent(p1, p2, tau)]
    pairs += [nt_xent(full, part, tau) for part in local for full in (p1, p2)]
    return torch.stack(pairs).mean()


def sample_triplets(
    n: int,
    count: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """`count` triplets (i, j, k) of distinct indices in [0, n), uniform.  -> (count, 3) long.

    Drawn on the CPU (the same triplets on every device), then copied to `device`."""
    if n < 3:
        raise ValueError("need at least 3 items to form a triplet")
    i = torch.randint(n, (count,), generator=generator)
    j = torch.randint(n - 1, (count,), generator=generator)
    j = j + (j >= i).long()
    k = torch.randint(n - 2, (count,), generator=generator)
    lo, hi = torch.minimum(i, j), torch.maximum(i, j)
    k = k + (k >= lo).long()
    k = k + (k >= hi).long()
    return to_device(torch.stack([i, j, k], dim=1), torch.device(device))


def dasgupta_triplet_loss(
    points: torch.Tensor, similarity: torch.Tensor, triplets: torch.Tensor, tau: float
) -> torch.Tensor:
    """HypHC's relaxed Dasgupta cost, averaged over triplets.

        w_ijk = (w_ij, w_ik, w_jk) · softmax_τ( d_o(e_i∨e_j), d_o(e_i∨e_k), d_o(e_j∨e_k) )
        L_hc  = mean_triplets ( w_ij + w_ik + w_jk − w_ijk )

    The deepest LCA marks the pair merged first; as τ → 0 this is the discrete triplet
    cost of the tree the embedding decodes to.
    Shape: points (B, d) in the ball, similarity (B, B), triplets (T, 3) -> scalar.
    """
    i, j, k = triplets.unbind(dim=1)
    pair_weights = torch.stack([similarity[i, j], similarity[i, k], similarity[j, k]], dim=1)
    depths = torch.stack(
        [
            lca_depth(points[i], points[j]),
            lca_depth(points[i], points[k]),
            lca_depth(points[j], points[k]),
        ],
        dim=1,
    )  # (T, 3)
    kept = (pair_weights * torch.softmax(depths / tau, dim=1)).sum(dim=1)
    return (pair_weights.sum(dim=1) - kept).mean()


def joint_loss(
    contrastive: torch.Tensor, hierarchical: torch.Tensor, lambda_ct: float, lambda_hc: float
) -> torch.Tensor:
    """L = λ_ct · L_ct + λ_hc · L_hc."""
    return lambda_ct * contrastive + lambda_hc * hierarchical

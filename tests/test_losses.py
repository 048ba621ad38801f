"""NT-Xent and the Dasgupta triplet loss against slow references written from the papers."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from infohier_cli.training.losses import (
    dasgupta_triplet_loss,
    latent_similarity,
    multi_crop_nt_xent,
    nt_xent,
    sample_triplets,
)


def nt_xent_reference(p1: torch.Tensor, p2: torch.Tensor, tau: float) -> float:
    """SimCLR Algorithm 1, written as loops."""
    z = [v / v.norm() for v in torch.cat([p1, p2])]
    n = p1.shape[0]

    def loss(i: int, j: int) -> float:
        num = math.exp(float(z[i] @ z[j]) / tau)
        den = sum(math.exp(float(z[i] @ z[k]) / tau) for k in range(2 * n) if k != i)
        return -math.log(num / den)

    return sum(loss(k, k + n) + loss(k + n, k) for k in range(n)) / (2 * n)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nt_xent_matches_loop_reference(seed: int, dtype):
    g = torch.Generator().manual_seed(seed)
    p1, p2 = (
        torch.randn(5, 7, generator=g, dtype=dtype),
        torch.randn(5, 7, generator=g, dtype=dtype),
    )
    assert nt_xent(p1, p2, 0.3).item() == pytest.approx(nt_xent_reference(p1, p2, 0.3), rel=1e-4)
    assert nt_xent(p1, p2, 0.3).item() == pytest.approx(nt_xent(p2, p1, 0.3).item(), rel=1e-5)


def test_multi_crop_nt_xent_is_the_mean_over_full_full_and_full_local_pairs():
    g = torch.Generator().manual_seed(0)
    p1, p2, l1, l2 = (torch.randn(5, 4, generator=g, dtype=torch.float64) for _ in range(4))
    assert torch.equal(multi_crop_nt_xent(p1, p2, [], 0.5), nt_xent(p1, p2, 0.5))
    pairs = [(p1, p2), (p1, l1), (p2, l1), (p1, l2), (p2, l2)]
    expected = sum(nt_xent_reference(a, b, 0.5) for a, b in pairs) / len(pairs)
    found = multi_crop_nt_xent(p1, p2, [l1, l2], 0.5)
    assert found.item() == pytest.approx(expected, rel=1e-10)
    assert multi_crop_nt_xent(p2, p1, [l2, l1], 0.5).item() == pytest.approx(found.item())


def test_nt_xent_closed_form():
    # two images, views identical, the two images orthogonal: s(i,i')=1, others 0
    p = torch.eye(2)
    tau = 0.5
    expected = -math.log(math.exp(2) / (math.exp(2) + 2))
    assert nt_xent(p, p, tau).item() == pytest.approx(expected, rel=1e-6)


def test_latent_similarity_range_and_centring():
    z = torch.rand(10, 4) + 1.0  # non-negative, like ReLU latents
    raw = latent_similarity(z, center=False)
    centred = latent_similarity(z)
    assert raw.min() > 0.9  # crowding near 1 without centring
    assert centred.min() < 0.5 and centred.max() <= 1.0 + 1e-6 and centred.min() >= -1e-6


def test_knn_similarity_is_the_symmetric_neighbour_graph():
    # two tight pairs far apart: each point's nearest neighbour is its partner
    z = torch.tensor(
        [[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0], [-1.0, -0.1], [0.0, 1.0]], requires_grad=True
    )
    w = latent_similarity(z, center=False, knn=1, detach=False)
    assert torch.equal(w, w.T) and torch.all(w.diagonal() == 0)
    assert w[0, 1] == 1.0 and w[2, 3] == 1.0  # mutual neighbours
    assert w[0, 2] == 0.0 and w[1, 3] == 0.0
    assert set(w.unique().tolist()) <= {0.0, 0.5, 1.0}
    assert not w.requires_grad
    assert torch.all(latent_similarity(z, knn=10).sum(1) == 4)  # k capped at B - 1


def test_triplets_are_distinct_and_cover_all_indices():
    t = sample_triplets(5, 4000, generator=torch.Generator().manual_seed(0))
    assert t.shape == (4000, 3)
    assert torch.all((t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2]) & (t[:, 1] != t[:, 2]))
    assert set(t.unique().tolist()) == set(range(5))


# A tiny hierarchy: ((0, 1), (2, 3)), embedded consistently on the circle.
def tree_consistent_points() -> torch.Tensor:
    angles = torch.tensor([0.0, 0.1, 1.6, 1.7], dtype=torch.float64)
    return 0.95 * torch.stack([angles.cos(), angles.sin()], 1)


def similarity_of_hierarchy() -> torch.Tensor:
    w = torch.full((4, 4), 0.1, dtype=torch.float64)
    w[0, 1] = w[1, 0] = w[2, 3] = w[3, 2] = 0.9
    return w


def discrete_triplet_cost(w: torch.Tensor, first_merged: dict) -> float:
    """Σ_triplets w_ij + w_ik + w_jk − w(pair merged first), for a known tree."""
    total = 0.0
    for t in itertools.combinations(range(4), 3):
        pairs = list(itertools.combinations(t, 2))
        total += sum(float(w[p]) for p in pairs) - float(w[first_merged[t]])
    return total / 4


def test_consistent_embedding_ranks_below_scrambled():
    w = similarity_of_hierarchy()
    triplets = torch.tensor(list(itertools.combinations(range(4), 3)))
    good = dasgupta_triplet_loss(tree_consistent_points(), w, triplets, tau=0.01)
    scrambled = tree_consistent_points()[[0, 2, 1, 3]]
    bad = dasgupta_triplet_loss(scrambled, w, triplets, tau=0.01)
    assert good < bad


def test_low_temperature_matches_discrete_triplet_cost():
    w = similarity_of_hierarchy()
    triplets = torch.tensor(list(itertools.combinations(range(4), 3)))
    first = {(0, 1, 2): (0, 1), (0, 1, 3): (0, 1), (0, 2, 3): (2, 3), (1, 2, 3): (2, 3)}
    loss = dasgupta_triplet_loss(tree_consistent_points(), w, triplets, tau=1e-3)
    assert loss.item() == pytest.approx(discrete_triplet_cost(w, first), rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_triplet_loss_gradients_are_finite(dtype):
    points = (tree_consistent_points().to(dtype) * 1.05).clamp(-0.999999, 0.999999)
    points.requires_grad_(True)
    w = similarity_of_hierarchy().to(dtype)
    triplets = torch.tensor(list(itertools.combinations(range(4), 3)))
    dasgupta_triplet_loss(points, w, triplets, tau=0.05).backward()
    assert torch.isfinite(points.grad).all()

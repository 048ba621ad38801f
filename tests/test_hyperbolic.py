"""The hyperbolic LCA against a numerical search, a closed form, gradcheck and the boundary."""

from __future__ import annotations

import math

import geoopt
import pytest
import torch

from infohier_cli.model.hyperbolic import EmbeddingHead, lca_depth, lca_point, origin_distance


def random_ball_points(n: int, dim: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g, dtype=dtype)
    radius = torch.rand(n, 1, generator=g, dtype=dtype) * 0.98
    return x / x.norm(dim=1, keepdim=True) * radius


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_numerical_search_along_geodesic(dim: int, seed: int):
    ball = geoopt.PoincareBall()
    x, y = random_ball_points(2, dim, seed)
    t = torch.linspace(0, 1, 100_001, dtype=torch.float64)[:, None]
    along = ball.geodesic(t, x, y)
    distances = origin_distance(along)
    assert lca_depth(x, y).item() == pytest.approx(distances.min().item(), abs=1e-7)
    assert torch.allclose(lca_point(x, y), along[distances.argmin()], atol=1e-4)


@pytest.mark.parametrize("r,theta", [(0.3, 2.0), (0.7, 1.0), (0.95, 0.3), (0.999, 0.05)])
def test_closed_form_equal_radius(r: float, theta: float):
    x = torch.tensor([r, 0.0], dtype=torch.float64)
    y = torch.tensor([r * math.cos(theta), r * math.sin(theta)], dtype=torch.float64)
    c = (1 + r * r) / (2 * r * math.cos(theta / 2))
    expected = 2 * math.atanh(1 / (c + math.sqrt(c * c - 1)))
    assert lca_depth(x, y).item() == pytest.approx(expected, rel=1e-9)


def test_opposite_points_meet_at_origin_and_equal_points_at_themselves():
    x = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    assert lca_depth(x, -x).item() == pytest.approx(0.0, abs=1e-6)
    assert lca_depth(x, x).item() == pytest.approx(origin_distance(x).item())


def test_gradcheck_float64():
    x, y = random_ball_points(2, 2, 5)
    x = x[None].clone().requires_grad_(True)
    y = y[None].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lca_depth, (x, y))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_values_and_gradients_at_the_boundary(dtype):
    r = 1 - 1e-6
    angles = torch.tensor([0.0, 1e-4, 0.5, 3.0], dtype=dtype)
    x = torch.stack([torch.full_like(angles, r), torch.zeros_like(angles)], 1).requires_grad_()
    y = torch.stack([r * torch.cos(angles), r * torch.sin(angles)], 1).requires_grad_()
    depth = lca_depth(x, y)
    depth.sum().backward()
    assert torch.isfinite(depth).all()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


@pytest.mark.parametrize("radius", ["fixed", "free"])
def test_embedding_head_stays_inside_the_ball(radius: str):
    head = EmbeddingHead(16, 2, radius=radius, r_max=0.9)
    points = head(torch.randn(64, 16) * 100)
    norms = points.norm(dim=1)
    assert torch.all(norms <= 0.9 + 1e-5)
    if radius == "fixed":
        assert torch.allclose(norms, torch.full_like(norms, 0.9), atol=1e-5)
    assert isinstance(head.centre, geoopt.ManifoldParameter)

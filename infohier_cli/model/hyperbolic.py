"""Poincaré-ball maths: the embedding head and the hyperbolic LCA (curvature -1).

Only what geoopt lacks is written here: the hyperbolic lowest common ancestor of two points
(HypHC, Chami et al. 2020) — the point of the geodesic segment [x, y] closest to the origin —
and its depth d_o(x ∨ y), the hyperbolic distance from the origin to that segment.

Closed form (derived in the hyperboloid model, stated in Poincaré coordinates): with
δ = |x − y|², the foot of the perpendicular from the origin to the geodesic line through x
and y lies inside the segment iff
    |y|²(1 + |x|²) ≥ (x·y)(1 + |y|²)   and   |x|²(1 + |y|²) ≥ (x·y)(1 + |x|²),
and then
    sinh² d_o = 4 (|x|²|y|² − (x·y)²) / ( δ · ((1 − |x|²)(1 − |y|²) + δ) ).
Otherwise the segment's closest point is its endpoint nearer the origin:
d_o = min(d(0, x), d(0, y)), with d(0, x) = 2 artanh |x|.
Every term is a sum of non-negative parts, so it stays finite in float32 up to the boundary.
The geodesic through x and y lies in the plane of 0, x and y, so the formula holds in any
dimension (in 2-D the numerator is the squared cross product, computed directly).
"""

from __future__ import annotations

import geoopt
import torch
from torch import nn

RADIUS_MODES = ("fixed", "free")


def _boundary_margin(dtype: torch.dtype) -> float:
    """Largest squared norm treated as inside the ball, for this dtype."""
    return 1.0 - 4.0 * torch.finfo(dtype).eps


def origin_distance(x: torch.Tensor) -> torch.Tensor:
    """d(0, x) = 2 artanh |x|.  Shape: (..., d) -> (...)."""
    sq = (x * x).sum(-1).clamp(torch.finfo(x.dtype).tiny, _boundary_margin(x.dtype))
    return 2.0 * torch.atanh(sq.sqrt())


def _segment_terms(x: torch.Tensor, y: torch.Tensor):
    """Shared quantities: |x|², |y|², x·y, δ = |x−y|² and the 'foot inside segment' mask."""
    xx = (x * x).sum(-1)
    yy = (y * y).sum(-1)
    xy = (x * y).sum(-1)
    diff = ((x - y) ** 2).sum(-1)
    inside = (yy * (1 + xx) >= xy * (1 + yy)) & (xx * (1 + yy) >= xy * (1 + xx)) & (diff > 0)
    return xx, yy, xy, diff, inside


def lca_depth(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d_o(x ∨ y): hyperbolic distance from the origin to the geodesic segment [x, y].

    Shape: x (..., d), y (..., d) broadcastable -> (...). Exact (formula in the module
    docstring), differentiable, finite with finite gradients for points up to 1 − 1e-6
    from the boundary in float32.
    """
    xx, yy, xy, diff, inside = _segment_terms(x, y)
    if x.shape[-1] == 2 and y.shape[-1] == 2:
        wedge = (x[..., 0] * y[..., 1] - x[..., 1] * y[..., 0]) ** 2
    else:
        wedge = (xx * yy - xy**2).clamp_min(0.0)
    limit = _boundary_margin(x.dtype)
    s = 1.0 - xx.clamp(max=limit)
    t = 1.0 - yy.clamp(max=limit)
    denominator = torch.where(inside, diff * (s * t + diff), torch.ones_like(diff))
    sinh_sq = (4.0 * wedge / denominator).clamp_min(torch.finfo(x.dtype).tiny)
    interior = torch.asinh(sinh_sq.sqrt())
    endpoint = torch.minimum(origin_distance(x), origin_distance(y))
    return torch.where(inside, torch.minimum(interior, endpoint), endpoint)


def lca_point(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x ∨ y: the point of the segment [x, y] closest to the origin.  (..., d) -> (..., d).

    In the hyperboloid model, with X, Y the lifts of x, y and γ = cosh d(x, y), the foot is
    P ∝ (γY₀ − X₀)·X + (γX₀ − Y₀)·Y; it maps back to the ball as P_space / (1 + P₀).
    """
    xx, yy, _, _, inside = _segment_terms(x, y)
    limit = _boundary_margin(x.dtype)
    s = (1.0 - xx.clamp(max=limit))[..., None]
    t = (1.0 - yy.clamp(max=limit))[..., None]
    x0, y0 = (1 + xx[..., None]) / s, (1 + yy[..., None]) / t
    xv, yv = 2 * x / s, 2 * y / t
    gamma = x0 * y0 - (xv * yv).sum(-1, keepdim=True)
    a, b = gamma * y0 - x0, gamma * x0 - y0
    p0, pv = a * x0 + b * y0, a * xv + b * yv
    norm = (a * a + b * b + 2 * a * b * gamma).clamp_min(torch.finfo(x.dtype).tiny).sqrt()
    foot = (pv / norm) / (1 + p0 / norm)
    nearer = torch.where((xx <= yy)[..., None], x, y)
    return torch.where(inside[..., None], foot, nearer)


class EmbeddingHead(nn.Module):
    """E: latent z (B, D) -> point e (B, dim) in the Poincaré ball.

    e = scale(expmap0(MLP(z)) ⊕ c): an MLP to the tangent space at the origin, the
    exponential map into the ball, a Möbius translation by a learnable centre c (a
    geoopt ManifoldParameter on the ball, trained with RiemannianAdam), then the radius
    rule: 'fixed' puts every point at radius r_max (HypHC's normalisation), 'free' only
    pulls points outside r_max back onto that radius (never NaN near the boundary).
    """

    def __init__(
        self,
        in_dim: int,
        dim: int = 2,
        radius: str = "fixed",
        r_max: float = 0.95,
        hidden: int = 128,
    ):
        super().__init__()
        if radius not in RADIUS_MODES:
            raise ValueError(f"radius must be one of {RADIUS_MODES}, not {radius!r}")
        if not 0.0 < r_max < 1.0:
            raise ValueError("r_max must lie in (0, 1)")
        self.radius, self.r_max = radius, r_max
        self.ball = geoopt.PoincareBall(c=1.0)
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim)
        )
        self.centre = geoopt.ManifoldParameter(torch.zeros(dim), manifold=self.ball)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.ball.mobius_add(self.ball.expmap0(self.net(z)), self.centre)
        norm = x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).eps)
        if self.radius == "fixed":
            return x * (self.r_max / norm)
        return x * torch.clamp(self.r_max / norm, max=1.0)

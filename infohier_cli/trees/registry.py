"""The tree builders, behind one registry: embeddings in, the one tree representation out.

A builder takes `Embeddings` (sample ids, latents, ball points) and returns a `Tree`: the
scipy linkage merge list over the samples (leaves 0..n−1 in the embeddings' row order,
named by sample id), plus ball coordinates where it has them. `tree --source`, the
benchmarks and the tests pick builders by name here.

    disk    greedy HypHC decoding of the ball points (`disk.py`), exact single linkage on
            the depth of the hyperbolic LCA: O(n log n) in the 2-D disk, O(n²) time (O(n)
            memory) in a ball of more dimensions
    latent  Ward on the normalised latents (`latent.py`), exact up to 15,000 samples,
            above that Ward inside and between k-means cells: O(n·√n·D) time, O(n·D)
            memory (1,000,000 × 512 latents in 52 s and 4.5 GB, BENCHMARKS.md)
    auto    in a ball of more than 2 dimensions (the default, 16) trained by the
            hierarchical loss: `disk` up to BALL_EXACT_MAX samples, `latent` above;
            otherwise (`--lambda-hc 0`, or the 2-D disk) `latent` at every size. The tree
            is taken from the space the hierarchical loss trains wherever its exact
            decoding is affordable: on the development suite it beat Ward on the latents
            (BENCHMARKS.md). Above BALL_EXACT_MAX the ball is not decoded: its exact
            decoding is O(n²) in time (12 s end to end at 10,000 images) and we know
            of no faster exact method in more than 2 dimensions, while the latent tree
            stayed near exact Ward wherever both ran. The 2-D disk decodes fast at any
            size, but its tree was much weaker than the latent tree on digits, so `auto`
            no longer falls back to it for large folders.

To add a builder: write `def my_tree(emb: Embeddings) -> Tree` and decorate it with
`@register("name", needs_latent=...)` in this module (the CLI reads the names when it is
imported); `--source` then offers it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infohier_cli.embeddings import Embeddings, load_embeddings
from infohier_cli.errors import UserError
from infohier_cli.trees.tree import Tree

BALL_EXACT_MAX = 10_000  # `auto` decodes a ball of > 2 dimensions (O(n²) time) up to here
AUTO = "auto"


@dataclass(frozen=True)
class Builder:
    """A registered tree builder: its name, whether it reads the latents, and `build`."""

    name: str
    needs_latent: bool
    build: Callable[[Embeddings], Tree]
    summary: str


BUILDERS: dict[str, Builder] = {}


def register(name: str, *, needs_latent: bool) -> Callable:
    """Decorator: add `fn(emb: Embeddings) -> Tree` to the registry under `name`."""

    def add(fn: Callable[[Embeddings], Tree]) -> Callable[[Embeddings], Tree]:
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        BUILDERS[name] = Builder(name, needs_latent, fn, summary)
        return fn

    return add


def source_names() -> tuple[str, ...]:
    """Every name `--source` accepts: `auto`, then the registered builders."""
    return (AUTO, *BUILDERS)


def resolve_source(source: str, n: int, ball_dim: int = 2, ball_trained: bool = True) -> str:
    """The builder `source` stands for with n samples in a `ball_dim`-dimensional ball
    (`auto` -> disk or latent, see the module docstring)."""
    if source == AUTO:
        return "disk" if ball_trained and ball_dim > 2 and n <= BALL_EXACT_MAX else "latent"
    if source not in BUILDERS:
        raise UserError(f"--source must be one of {', '.join(source_names())}, not {source!r}")
    return source


@register("disk", needs_latent=False)
def disk_tree(emb: Embeddings) -> Tree:
    """Greedy decoding of the ball points (exact single linkage on the hyperbolic LCA)."""
    from infohier_cli.trees.disk import decode

    decoded = decode(emb.disk)
    return Tree(emb.ids, decoded.linkage, leaf_points=emb.disk, node_points=decoded.points)


@register("latent", needs_latent=True)
def latent_tree(emb: Embeddings) -> Tree:
    """Ward linkage on the normalised latents (by k-means cells above 15,000 samples)."""
    from infohier_cli.trees.latent import latent_linkage

    if emb.latent is None:
        raise ValueError("the latent tree needs the latents")
    return Tree(emb.ids, latent_linkage(emb.latent), leaf_points=emb.disk)


def shape_of(emb: Embeddings) -> tuple[int, int, bool]:
    """What `auto` decides by: (samples, ball dimension, whether the ball was trained)."""
    return len(emb.ids), emb.disk.shape[1], emb.ball_trained


def build(source: str, emb: Embeddings) -> Tree:
    """The tree of `emb` by the builder named `source` (or `auto`)."""
    return BUILDERS[resolve_source(source, *shape_of(emb))].build(emb)


def build_tree(embeddings_file: Path, source: str = AUTO) -> Tree:
    """Read an embeddings file and build its tree; the latent matrix is read only when
    the chosen builder needs it."""
    emb = load_embeddings(embeddings_file, with_latent=False)
    builder = BUILDERS[resolve_source(source, *shape_of(emb))]
    if builder.needs_latent:
        emb = load_embeddings(embeddings_file)
    return builder.build(emb)

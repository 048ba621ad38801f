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
    diffusion  Ward on a diffusion map of the latents' k-nearest-neighbour graph
            (`diffusion.py`, k from 3 to 10 by size), exact: O(n²·D) time, O(n²)
            memory (0.4 GB at 10,000)
    single  single linkage on the L2-normalised latents (`single.py`), exact: O(n²·D)
            time, O(n²) memory (0.4 GB at 10,000)
    auto    `diffusion` up to DIFFUSION_MAX samples, `latent` above, whatever the ball. On
            the development suite (BENCHMARKS.md, "The default tree: a diffusion map") the
            diffusion tree's mean class dendrogram purity is level with single linkage's
            (the default before it; 0.857 against 0.858 over 31 runs, ahead on the
            largest folder) and well above Ward on the latents and the 16-D ball's
            decoding; `--source single` and `--source latent` give those. Above
            DIFFUSION_MAX the n²/2 distances no longer fit comfortably, and the Ward cell
            tree runs in O(n·√n·D) time and O(n·D) memory. The ball is decoded only when
            asked (`--source disk`): its exact decoding is O(n²) in more than 2
            dimensions (12 s end to end at 10,000 points: BENCHMARKS.md).

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

DIFFUSION_MAX = 10_000  # `auto` builds the exact diffusion tree (n²/2 distances) up to here
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


def resolve_source(source: str, n: int) -> str:
    """The builder `source` stands for with n samples (`auto` -> diffusion or latent, see
    the module docstring; the ball's shape does not change the choice)."""
    if source == AUTO:
        return "diffusion" if n <= DIFFUSION_MAX else "latent"
    if source not in BUILDERS:
        raise UserError(f"--source must be one of {', '.join(source_names())}, not {source!r}")
    return source


@register("disk", needs_latent=False)
def disk_tree(emb: Embeddings) -> Tree:
    """Greedy decoding of the ball points (exact single linkage on the hyperbolic LCA)."""
    from infohier_cli.trees.disk import decode

    decoded = decode(emb.disk)
    return Tree(emb.ids, decoded.linkage, leaf_points=emb.disk, node_points=decoded.points)


@register("diffusion", needs_latent=True)
def diffusion_tree(emb: Embeddings) -> Tree:
    """Ward on a diffusion map of the latents (the default up to 10,000 samples)."""
    from infohier_cli.trees.diffusion import diffusion_linkage

    if emb.latent is None:
        raise ValueError("the diffusion tree needs the latents")
    return Tree(emb.ids, diffusion_linkage(emb.latent), leaf_points=emb.disk)


@register("single", needs_latent=True)
def single_tree(emb: Embeddings) -> Tree:
    """Single linkage on the normalised latents."""
    from infohier_cli.trees.single import single_linkage

    if emb.latent is None:
        raise ValueError("the single-linkage tree needs the latents")
    return Tree(emb.ids, single_linkage(emb.latent), leaf_points=emb.disk)


@register("latent", needs_latent=True)
def latent_tree(emb: Embeddings) -> Tree:
    """Ward linkage on the normalised latents (by k-means cells above 15,000 samples)."""
    from infohier_cli.trees.latent import latent_linkage

    if emb.latent is None:
        raise ValueError("the latent tree needs the latents")
    return Tree(emb.ids, latent_linkage(emb.latent), leaf_points=emb.disk)


def build(source: str, emb: Embeddings) -> Tree:
    """The tree of `emb` by the builder named `source` (or `auto`)."""
    return BUILDERS[resolve_source(source, len(emb.ids))].build(emb)


def build_tree(
    embeddings_file: Path, source: str = AUTO, warn: Callable[[str], None] | None = None
) -> Tree:
    """Read an embeddings file and build its tree; the latent matrix is read only when
    the chosen builder needs it. `warn` hears of a ball decoded although the hierarchical
    loss never trained it (an SSL-only run)."""
    emb = load_embeddings(embeddings_file, with_latent=False)
    builder = BUILDERS[resolve_source(source, len(emb.ids))]
    if builder.name == "disk" and not emb.ball_trained and warn is not None:
        warn(
            "note: this run's ball was not trained (--lambda-hc 0), so its decoding "
            "is not a meaningful tree; the default --source auto uses the latents"
        )
    if builder.needs_latent:
        emb = load_embeddings(embeddings_file)
    return builder.build(emb)

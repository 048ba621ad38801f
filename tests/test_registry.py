"""Tree builders behind one registry: every builder returns a valid linkage over the
samples, named by sample id; `auto` dispatches by size."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage

from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.errors import UserError
from infohier_cli.trees import latent, registry
from infohier_cli.trees.diffusion import diffusion_linkage
from infohier_cli.trees.disk import decode
from infohier_cli.trees.latent import latent_linkage
from infohier_cli.trees.single import single_linkage


def embeddings(n: int = 40, seed: int = 0) -> Embeddings:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 16)).astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi, n)
    disk = (0.8 * np.stack([np.cos(angle), np.sin(angle)], axis=1)).astype(np.float32)
    return Embeddings([f"s{i:03d}" for i in range(n)], latent, disk)


def test_registry_names_and_sources():
    assert {"diffusion", "disk", "latent", "single"} <= set(registry.BUILDERS)
    assert registry.source_names()[0] == "auto"
    assert registry.resolve_source("auto", 10) == "diffusion"
    assert registry.resolve_source("auto", registry.DIFFUSION_MAX) == "diffusion"
    assert registry.resolve_source("auto", registry.DIFFUSION_MAX + 1) == "latent"
    assert registry.resolve_source("disk", 10**7) == "disk"
    with pytest.raises(UserError, match="--source must be one of"):
        registry.resolve_source("nope", 10)


@pytest.mark.parametrize("source", ["auto", *registry.BUILDERS])
def test_every_builder_returns_a_valid_tree_over_the_sample_ids(source):
    emb = embeddings()
    tree = registry.build(source, emb)
    assert tree.names == emb.ids
    assert is_valid_linkage(tree.linkage) and is_monotonic(tree.linkage)
    assert tree.linkage[-1, 3] == len(emb.ids)


def test_builders_are_the_decoders():
    emb = embeddings()
    np.testing.assert_array_equal(registry.build("disk", emb).linkage, decode(emb.disk).linkage)
    np.testing.assert_array_equal(registry.build("latent", emb).linkage, latent_linkage(emb.latent))
    np.testing.assert_array_equal(registry.build("single", emb).linkage, single_linkage(emb.latent))
    np.testing.assert_array_equal(
        registry.build("diffusion", emb).linkage, diffusion_linkage(emb.latent)
    )


def test_single_linkage_heights_are_the_minimum_spanning_tree_of_cosine_distances():
    """Reference: Kruskal over all pairs of sqrt(2 − 2 cos θ); row lengths do not matter."""
    rng = np.random.default_rng(5)
    points = rng.normal(size=(12, 5)) * rng.uniform(0.5, 3.0, size=(12, 1))
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    distance = np.sqrt(np.clip(2 - 2 * unit @ unit.T, 0, None))
    parent = list(range(12))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    spanning = []
    pairs = [(distance[a, b], a, b) for a in range(12) for b in range(a + 1, 12)]
    for d, a, b in sorted(pairs):
        if root(a) != root(b):
            parent[root(a)] = root(b)
            spanning.append(d)
    tree = single_linkage(points)
    np.testing.assert_allclose(tree[:, 2], spanning, atol=1e-9)
    np.testing.assert_allclose(single_linkage(points * 7.0)[:, 2], tree[:, 2], atol=1e-9)
    assert single_linkage(points[:1]).shape == (0, 4)


def test_decoding_an_untrained_ball_is_flagged(tmp_path):
    heard: list[str] = []
    save_embeddings(tmp_path / "ssl.npz", replace(embeddings(), ball_trained=False))
    registry.build_tree(tmp_path / "ssl.npz", "disk", heard.append)
    registry.build_tree(tmp_path / "ssl.npz", "auto", heard.append)
    save_embeddings(tmp_path / "joint.npz", embeddings())
    registry.build_tree(tmp_path / "joint.npz", "disk", heard.append)
    assert len(heard) == 1 and "not trained (--lambda-hc 0)" in heard[0]


def test_build_tree_reads_latents_only_when_needed(tmp_path, monkeypatch):
    emb = embeddings()
    save_embeddings(tmp_path / "e.npz", emb)
    reads = []
    original = registry.load_embeddings

    def spy(path, with_latent=True):
        reads.append(with_latent)
        return original(path, with_latent)

    monkeypatch.setattr(registry, "load_embeddings", spy)
    registry.build_tree(tmp_path / "e.npz", "disk")
    assert reads == [False]
    reads.clear()
    tree = registry.build_tree(tmp_path / "e.npz", "auto")
    assert reads == [False, True] and tree.names == emb.ids


def test_a_registered_builder_is_available_by_name(monkeypatch):
    monkeypatch.setattr(registry, "BUILDERS", dict(registry.BUILDERS))

    @registry.register("first-two", needs_latent=False)
    def first_two(emb):
        return registry.BUILDERS["disk"].build(emb)

    assert "first-two" in registry.source_names()
    assert registry.build("first-two", embeddings()).names == embeddings().ids


def test_auto_switches_to_the_cell_tree_above_both_thresholds(monkeypatch):
    """Lowered thresholds stand for 10,000 (the diffusion tree) and 15,000 (exact Ward)."""
    rng = np.random.default_rng(3)
    n = 120
    emb = Embeddings(
        [f"s{i:03d}" for i in range(n)],
        rng.normal(size=(n, 16)).astype(np.float32),
        (0.5 * rng.uniform(-1, 1, size=(n, 16)) / 4).astype(np.float32),
    )
    monkeypatch.setattr(registry, "DIFFUSION_MAX", 200)
    np.testing.assert_array_equal(
        registry.build("auto", emb).linkage, diffusion_linkage(emb.latent)
    )
    monkeypatch.setattr(registry, "DIFFUSION_MAX", 60)
    monkeypatch.setattr(latent, "EXACT_MAX", 100)
    calls = []
    kmeans = latent.kmeans_cells
    monkeypatch.setattr(latent, "kmeans_cells", lambda *a: calls.append(a[1]) or kmeans(*a))
    tree = registry.build("auto", emb)
    assert calls == [latent.default_cells(n)]  # the cell tree, not exact Ward
    assert is_valid_linkage(tree.linkage) and is_monotonic(tree.linkage)
    np.testing.assert_array_equal(tree.linkage, latent_linkage(emb.latent, exact_max=100))

"""Choosing the number of clusters: `infohier export --cut auto`.

Two stated criteria, each scanning k in [2, K_max] with K_max = max(2, ⌊√n⌋) (at most n−1):

- ``gap`` (default; needs only the tree). Cutting into k clusters keeps the merges up to
  row n−k−1 of the linkage and undoes row n−k onwards. The relative gap at k is

      g(k) = (h[n−k] − h[n−k−1]) / h[n−k]  ∈ [0, 1]

  with h the merge heights in row order: how much higher the first undone merge is than the
  last kept one. k* = argmax g (ties to the smaller k). A tall gap means the k clusters
  stay apart over a wide range of heights. The gap reads the plain cut's heights; the
  chosen k is then cut as every `--cut K` is (`Tree.clusters`: late strays stay in the
  cluster they joined).
- ``silhouette`` (needs the latents). The mean silhouette (Rousseeuw 1987)

      s(i) = (b(i) − a(i)) / max(a(i), b(i))

  of the cut into k, with a(i) the mean distance from i to its own cluster, b(i) the
  smallest mean distance to another cluster, and distance d_ij = 1 − w_ij under the one
  latent similarity (`training/similarity.py`); singletons score 0. Over more than
  SILHOUETTE_SAMPLE leaves a fixed random sample is scored. k* = argmax mean s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from infohier_cli.errors import UserError
from infohier_cli.trees.tree import Tree

AUTO_CRITERIA = ("gap", "silhouette")
SILHOUETTE_SAMPLE = 3000


@dataclass(frozen=True)
class AutoCut:
    """The chosen k, the criterion, its score at k, the runner-up and a one-line reason."""

    k: int
    criterion: str
    score: float
    ks: tuple[int, ...]
    scores: tuple[float, ...]

    @property
    def reason(self) -> str:
        order = np.argsort(-np.asarray(self.scores), kind="stable")
        second = (
            f"; runner-up k={self.ks[order[1]]} ({self.scores[order[1]]:.3f})"
            if len(order) > 1
            else ""
        )
        what = (
            "largest relative gap in merge heights"
            if self.criterion == "gap"
            else "highest mean silhouette on the latents"
        )
        return (
            f"cut auto: k={self.k} ({what} among k={self.ks[0]}..{self.ks[-1]}: "
            f"{self.score:.3f}{second})"
        )


def k_range(n: int) -> list[int]:
    """The k scanned: 2..max(2, ⌊√n⌋), never above n − 1."""
    top = min(max(2, int(np.sqrt(n))), n - 1)
    return list(range(2, top + 1))


def height_gaps(heights: np.ndarray, ks: list[int]) -> np.ndarray:
    """g(k) for each k (module docstring). heights: (n−1,) merge heights in row order."""
    n = len(heights) + 1
    up = np.array([heights[n - k] for k in ks], dtype=np.float64)
    kept = np.array([heights[n - k - 1] for k in ks], dtype=np.float64)
    return np.where(up > 0, (up - kept) / np.where(up > 0, up, 1.0), 0.0)


def silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of a clustering. distance (m, m) symmetric, zero diagonal;
    labels (m,) in 0..k−1. Singletons score 0, as in scikit-learn."""
    m = len(labels)
    k = int(labels.max()) + 1
    onehot = np.zeros((m, k))
    onehot[np.arange(m), labels] = 1.0
    sizes = onehot.sum(axis=0)
    sums = distance @ onehot  # (m, k): total distance from i to each cluster
    own = sizes[labels]
    a = sums[np.arange(m), labels] / np.maximum(own - 1, 1)
    other = np.where(onehot > 0, np.inf, sums / np.maximum(sizes, 1))
    b = other.min(axis=1)
    s = np.where(own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def choose_k(
    tree: Tree, criterion: str = "gap", latent: np.ndarray | None = None, seed: int = 0
) -> AutoCut:
    """Pick k for `tree` by `criterion` ('gap' or 'silhouette'; the latter needs `latent`,
    (n, D) rows in the tree's leaf order)."""
    if tree.n < 3:
        raise UserError(f"--cut auto needs a tree of at least 3 leaves (this one has {tree.n})")
    ks = k_range(tree.n)
    if criterion == "gap":
        scores = height_gaps(tree.linkage[:, 2], ks)
    elif criterion == "silhouette":
        if latent is None:
            raise UserError("--auto-criterion silhouette needs the latents (--embeddings)")
        from infohier_cli.training.similarity import cosine_to_weight, normalise

        rows = np.arange(tree.n)
        if tree.n > SILHOUETTE_SAMPLE:
            rows = np.sort(np.random.default_rng(seed).choice(tree.n, SILHOUETTE_SAMPLE, False))
        unit = normalise(latent)[rows]
        distance = 1.0 - cosine_to_weight(unit @ unit.T)
        np.fill_diagonal(distance, 0.0)
        scores = np.array([silhouette(distance, tree.cut(k)[rows]) for k in ks])
    else:
        raise UserError(f"unknown criterion {criterion!r} (choose from {', '.join(AUTO_CRITERIA)})")
    best = int(np.argmax(scores))
    return AutoCut(ks[best], criterion, float(scores[best]), tuple(ks), tuple(map(float, scores)))


def parse_cuts(values: list[str]) -> list[int | str]:
    """`--cut` values: positive integers or 'auto'; UserError otherwise."""
    cuts: list[int | str] = []
    for value in values:
        text = value.strip().lower()
        if text == "auto":
            cuts.append("auto")
        elif text.isascii() and text.isdigit() and int(text) >= 1:
            cuts.append(int(text))
        else:
            raise UserError(f"--cut takes a positive integer or 'auto', not {value!r}")
    return cuts


def resolve_cuts(
    tree: Tree,
    cuts: list[int | str],
    criterion: str = "gap",
    latent: np.ndarray | None = None,
    warn=print,
) -> list[int]:
    """Replace 'auto' in `cuts` by the chosen k, saying which and why through `warn`;
    a k given twice (or chosen by 'auto' and given too) is kept once, where it first is."""
    if "auto" in cuts:
        chosen = choose_k(tree, criterion, latent)
        warn(chosen.reason)
        cuts = [chosen.k if k == "auto" else k for k in cuts]
    return list(dict.fromkeys(int(k) for k in cuts))


def leaf_latents(tree: Tree, embeddings_file) -> np.ndarray:
    """The latents of `tree`'s leaves, in leaf order, looked up by sample id."""
    from infohier_cli.embeddings import load_embeddings

    emb = load_embeddings(embeddings_file)
    row = {name: i for i, name in enumerate(emb.ids)}
    missing = [name for name in tree.names if name not in row]
    if missing:
        raise UserError(
            f"{len(missing)} leaves (e.g. {missing[0]!r}) are not in {embeddings_file}; "
            "give the embeddings of the run that made the tree (--embeddings)"
        )
    return emb.latent[[row[name] for name in tree.names]]

"""The default tree up to `registry.DIFFUSION_MAX` images: Ward on a diffusion map of the latents.

Contrastive latents are made of chains of near neighbours (each image's views and closest
images are pulled together), so a class is a connected region of the latent space, not a
ball around a mean. Ward on the latents cuts such regions along their length; single
linkage follows them but is bridged by one stray pair. A diffusion map (Coifman & Lafon
2006) keeps the neighbourhood structure and gives Ward points whose Euclidean distance is
the diffusion distance: how differently two images' random walks on the neighbour graph
spread after t steps. On the development suite its trees' mean dendrogram purity was level
with single linkage's (31 runs; ahead on the largest folder) and 0.06 above Ward's on the
same latents (BENCHMARKS.md, "The default tree: a diffusion map"). Steps, with u_i the
L2-normalised latent of image i:

1. neighbour graph: the k nearest images of each (cosine), weighted by the self-tuning
   Gaussian kernel (Zelnik-Manor & Perona 2004),
       A_ij = exp(−‖u_i − u_j‖² / (σ_i σ_j)),   σ_i = ‖u_i − u_{i,(k)}‖ (k-th neighbour),
   made symmetric as A = max(A, Aᵀ). k = clip(round(√n / 2), NEIGHBOURS_MIN,
   NEIGHBOURS_MAX) (`neighbour_count`): a walk that leaves its group within a step or two
   cannot tell groups apart, so k must stay below the size of the groups to be found,
   which nothing tells in advance; with the usual √n guess at the number of groups a
   group holds about √n images, and k is half that, from 3 up to 10 (with k = 10 at
   every size, groups of 4–8 images lost 0.05–0.15 dendrogram purity: BENCHMARKS.md);
2. the random walk P = D⁻¹A (D = diag of the row sums) through its symmetric form
   S = D^{-1/2} A D^{-1/2}: the `DIMENSIONS` = m largest eigenpairs S v_l = λ_l v_l give
   P's right eigenvectors ψ_l = D^{-1/2} v_l;
3. the diffusion map at time t = `STEPS`: x_i = (λ_l^t ψ_l(i))_{l=1..m}, whose distances
   ‖x_i − x_j‖ are the diffusion distances truncated to m terms (the trivial ψ with λ = 1
   is constant on the graph, so it adds no distance);
4. exact Ward linkage of the points x (`ward.ward`).
A graph of several connected parts (well-separated groups: no image has a neighbour in
another group) gives each part an eigenvector of eigenvalue 1, so every two parts are
about equally far apart in diffusion distance and Ward would join them by size alone.
Such a graph gets each part's own tree (steps 1–4) under the Ward tree of the parts'
means of the latents (`split_linkage`): the latents, not the graph, order the parts.

Cost: the k-nearest-neighbour search holds `BLOCK` rows of similarities at a time
(O(n²·D) time, O(n·k) memory); the eigenpairs by a dense solver up to `DENSE_MAX` images,
by Lanczos iterations (scipy's `eigsh`, a fixed start vector: deterministic) above; then
Ward holds n²/2 distances (0.4 GB at 10,000 images), which is why `auto` uses this tree
only up to `registry.DIFFUSION_MAX`. m and t, and k = 10 for large folders, were set
before the suite was scored and not tuned per folder (BENCHMARKS.md shows neighbouring
values).
"""

from __future__ import annotations

import numpy as np

from infohier_cli.training.similarity import normalise
from infohier_cli.trees.ward import ward

NEIGHBOURS_MIN, NEIGHBOURS_MAX = 3, 10  # k: each image's neighbours in the graph
DIMENSIONS = 64  # m: eigenvectors kept
STEPS = 4  # t: diffusion time (larger = coarser neighbourhoods)
DENSE_MAX = 500  # up to this many images the eigenpairs come from a dense solver
BLOCK = 2_048  # rows of similarities computed at once


def neighbour_count(n: int) -> int:
    """k = clip(round(√n / 2), NEIGHBOURS_MIN, NEIGHBOURS_MAX) for n images."""
    return int(np.clip(round(np.sqrt(n) / 2), NEIGHBOURS_MIN, NEIGHBOURS_MAX))


def diffusion_linkage(
    latent: np.ndarray, k: int | None = None, dims: int = DIMENSIONS, steps: int = STEPS
) -> np.ndarray:
    """The diffusion tree of the latents (module docstring), with k neighbours (None =
    `neighbour_count(n)`). (n, D) -> (n−1, 4), scipy's format; empty for n < 2. A
    neighbour graph of several connected parts gets each part's own diffusion tree (same
    k) under the Ward tree of the parts (`split_linkage`)."""
    from scipy.sparse.csgraph import connected_components

    if len(latent) < 2:
        return np.zeros((0, 4))
    k = k or neighbour_count(len(latent))
    unit = normalise(latent, mean=np.zeros(latent.shape[1]))
    distinct, copy_of = np.unique(unit, axis=0, return_inverse=True)
    copy_of = copy_of.reshape(-1)
    if len(distinct) < 2:
        return ward(np.zeros((len(latent), 1)))
    graph = neighbour_graph(distinct, min(k, len(distinct) - 1))
    parts, part_of = connected_components(graph, directed=False)
    if parts == 1:
        return ward(diffusion_map(graph, dims, steps)[copy_of])
    return split_linkage(latent, part_of[copy_of], k, dims, steps)


def split_linkage(
    latent: np.ndarray, part_of: np.ndarray, k: int, dims: int, steps: int
) -> np.ndarray:
    """The tree of latents whose neighbour graph has several connected parts (part_of:
    (n,) in 0..p−1): each part's diffusion tree, under the size-weighted Ward tree of the
    parts' means of the centred, normalised latents (`latent.cell_ward`), whose merges
    are lifted above every merge inside the parts (the parts are the most separated
    groups: a cut into at most p clusters splits none of them). Diffusion distances
    between parts the graph does not connect are all alike (each part is its own
    eigenvector of eigenvalue 1), so they cannot order the parts; the latents can.
    -> (n−1, 4)."""
    from infohier_cli.trees.latent import cell_ward

    return cell_ward(
        normalise(latent),
        part_of,
        within=lambda rows: diffusion_linkage(latent[rows], k, dims, steps),
        cells_first=True,
    )


def diffusion_map(graph, dims: int = DIMENSIONS, steps: int = STEPS) -> np.ndarray:
    """Points x_i = (λ_l^t ψ_l(i))_l of the module docstring from the neighbour graph A
    ((n, n) sparse, symmetric) -> (n, min(dims, n)) float64."""
    symmetric, inverse_root = symmetric_walk(graph)
    values, vectors = top_eigenpairs(symmetric, min(dims, graph.shape[0]))
    return vectors * inverse_root[:, None] * values[None, :] ** steps


def symmetric_walk(graph):
    """The walk's symmetric form S = D^{-1/2} A D^{-1/2} ((n, n) sparse CSR) and D^{-1/2}
    ((n,) float64), from the neighbour graph A ((n, n) sparse, symmetric)."""
    inverse_root = 1.0 / np.sqrt(np.maximum(np.asarray(graph.sum(axis=1)).ravel(), 1e-300))
    symmetric = graph.multiply(inverse_root[:, None]).multiply(inverse_root[None, :])
    return symmetric.tocsr(), inverse_root


def neighbour_graph(unit: np.ndarray, k: int):
    """The symmetric self-tuning kernel graph A of the module docstring, from (n, D) unit
    rows -> (n, n) scipy sparse matrix with about n·k entries per side."""
    from scipy.sparse import csr_matrix

    n = len(unit)
    neighbours = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, BLOCK):
        similarity = unit[start : start + BLOCK] @ unit.T
        rows = np.arange(len(similarity))
        similarity[rows, start + rows] = -np.inf  # not its own neighbour
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        neighbours[start : start + BLOCK] = np.take_along_axis(top, order, axis=1)
    squared = np.sum((unit[:, None, :] - unit[neighbours]) ** 2, axis=2)  # (n, k)
    sigma = np.sqrt(squared[:, -1])
    scale = sigma[:, None] * sigma[neighbours]
    weight = np.exp(-squared / np.where(scale > 0, scale, 1.0))
    graph = csr_matrix((weight.ravel(), (np.repeat(np.arange(n), k), neighbours.ravel())), (n, n))
    return graph.maximum(graph.T)


def top_eigenpairs(symmetric, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The m largest eigenvalues (m,) and their unit eigenvectors (n, m) of a symmetric
    sparse matrix: dense up to DENSE_MAX rows, Lanczos from a fixed start above. Lanczos
    that does not converge (eigenvalues bunched near 1: many nearly separate groups) is
    retried once with a wider Krylov space and more iterations, then the dense solver
    answers (O(n³) time, n² memory)."""
    n = symmetric.shape[0]
    if n > DENSE_MAX and m < n - 1:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        for width, iterations in ((None, None), (min(n - 1, 4 * m + 1), 50 * n)):
            try:
                values, vectors = eigsh(
                    symmetric, k=m, which="LA", v0=np.ones(n), ncv=width, maxiter=iterations
                )
            except ArpackNoConvergence:
                continue
            order = np.argsort(-values)
            return values[order], vectors[:, order]
    return dense_top_eigenpairs(symmetric, m)


def dense_top_eigenpairs(symmetric, m: int) -> tuple[np.ndarray, np.ndarray]:
    """`top_eigenpairs` by LAPACK on the dense (n, n) matrix: O(n³) time and n² memory for
    the reduction to tridiagonal form, then only the m largest eigenpairs (MRRR, `evr`):
    about half the time and memory of computing all n (BENCHMARKS.md)."""
    from scipy.linalg import eigh

    n = symmetric.shape[0]
    values, vectors = eigh(symmetric.toarray(), subset_by_index=[n - m, n - 1], driver="evr")
    return values[::-1], vectors[:, ::-1]

"""Tree metrics against brute force and hand-computed cases; the `eval` command."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infohier_cli.cli import app
from infohier_cli.embeddings import Embeddings, save_embeddings
from infohier_cli.evaluate.metrics import cut_scores, dasgupta_cost, dendrogram_purity
from infohier_cli.trees.tree import Tree


def random_tree(n: int, seed: int) -> Tree:
    from scipy.cluster.hierarchy import linkage

    points = np.random.default_rng(seed).normal(size=(n, 2))
    return Tree([f"l{i}" for i in range(n)], linkage(points, "average"))


def members(tree: Tree) -> dict[int, set[int]]:
    out = {i: {i} for i in range(tree.n)}
    for row, (a, b) in enumerate(tree.children()):
        out[tree.n + row] = out[a] | out[b]
    return out


def lca_leaves(tree: Tree, i: int, j: int) -> set[int]:
    return min((m for m in members(tree).values() if i in m and j in m), key=len)


def purity_brute_force(tree: Tree, labels: np.ndarray) -> float:
    scores = []
    for i, j in itertools.combinations(range(tree.n), 2):
        if labels[i] < 0 or labels[i] != labels[j]:
            continue
        under = [k for k in lca_leaves(tree, i, j) if labels[k] >= 0]
        scores.append(np.mean([labels[k] == labels[i] for k in under]))
    return float(np.mean(scores))


def test_hand_computed_purity():
    # (((a1,a2),b1),(a3,b2)): leaves 0=a1 1=a2 2=b1 3=a3 4=b2
    linkage = np.array([[0, 1, 1, 2], [2, 5, 2, 3], [3, 4, 2.5, 2], [6, 7, 3, 5]], dtype=float)
    tree = Tree(["a1", "a2", "b1", "a3", "b2"], linkage)
    assert dendrogram_purity(tree, np.array([0, 0, 1, 0, 1])) == pytest.approx(0.65)


@pytest.mark.parametrize("seed", range(5))
def test_purity_matches_pair_enumeration(seed: int):
    tree = random_tree(30, seed)
    labels = np.random.default_rng(seed).integers(-1, 3, 30)  # −1 = unlabelled
    assert dendrogram_purity(tree, labels) == pytest.approx(purity_brute_force(tree, labels))


def test_cut_scores_hand_cases():
    assert cut_scores(np.array([0, 0, 1, 1]), np.array([5, 5, 7, 7])) == pytest.approx(
        {"purity": 1.0, "nmi": 1.0, "ari": 1.0}
    )
    scores = cut_scores(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    assert scores["purity"] == 0.5 and scores["nmi"] == pytest.approx(0.0, abs=1e-12)
    assert scores["ari"] == pytest.approx(-0.5)


def test_dasgupta_exact_and_sampled_against_brute_force():
    tree = random_tree(40, 1)
    z = np.random.default_rng(0).normal(size=(40, 5))

    def similarity(i, j):
        return np.exp(-np.linalg.norm(z[i] - z[j], axis=-1))

    total = weight = 0.0
    for i, j in itertools.combinations(range(40), 2):
        w = similarity(np.array([i]), np.array([j]))[0]
        total += w * len(lca_leaves(tree, i, j))
        weight += w
    exact, error = dasgupta_cost(tree, similarity)
    assert error == 0 and exact == pytest.approx(total / (weight * 40))
    sampled, error = dasgupta_cost(tree, similarity, exact_limit=10, samples=100_000)
    assert abs(sampled - exact) < 5 * error + 1e-3


def test_eval_command_from_folders_and_csv(tmp_path: Path):
    names = ["x/a/1.png", "x/a/2.png", "x/b/3.png", "y/c/4.png", "y/c/5.png", "nolabel.png"]
    linkage = np.array(
        [[0, 1, 1, 2], [3, 4, 1, 2], [2, 6, 2, 3], [7, 8, 3, 5], [5, 9, 4, 6]], dtype=float
    )
    (tmp_path / "t.nwk").write_text(Tree(names, linkage).to_newick())
    runner = CliRunner()
    result = runner.invoke(
        app, ["eval", str(tmp_path / "t.nwk"), "--labels-from-folders", "--depth", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"folder-1"' in result.stdout and '"folder-2"' in result.stdout
    (tmp_path / "labels.csv").write_text(
        "path,class,superclass\nx/a/1.png,a,x\nx/a/2.png,a,x\nx/b/3.png,b,x\ny/c/4.png,c,y\n"
    )
    result = runner.invoke(
        app, ["eval", str(tmp_path / "t.nwk"), "--labels", str(tmp_path / "labels.csv")]
    )
    assert result.exit_code == 0 and "superclass" in result.stdout
    (tmp_path / "bad.csv").write_text("path,class\nelsewhere.png,a\n")
    result = runner.invoke(
        app, ["eval", str(tmp_path / "t.nwk"), "--labels", str(tmp_path / "bad.csv")]
    )
    assert result.exit_code == 2 and "no label matches" in result.stderr


def test_eval_of_an_empty_level_one_labelled_leaf_and_bad_embeddings(tmp_path: Path):
    names = ["a/1.png", "a/2.png", "b/3.png", "4.png"]
    linkage = np.array([[0, 1, 1, 2], [2, 3, 1, 2], [4, 5, 2, 4]], dtype=float)
    tree_file = tmp_path / "t.nwk"
    tree_file.write_text(Tree(names, linkage).to_newick())
    runner = CliRunner()
    labels = tmp_path / "labels.csv"
    labels.write_text("path,class,superclass\na/1.png,p,\nb/3.png,q,\n")
    result = runner.invoke(app, ["eval", str(tree_file), "--labels", str(labels), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["levels"].keys() == {"class"}
    assert "'superclass' labels no leaf" in result.stderr
    twice = tmp_path / "twice.csv"
    twice.write_text("path,class\na/1.png,p\na/1.png,q\nb/3.png,q\nb/3.png,q\n")
    result = runner.invoke(app, ["eval", str(tree_file), "--labels", str(twice)])
    assert result.exit_code == 0 and "1 path(s) have conflicting 'class'" in result.stderr
    one = tmp_path / "one.csv"
    one.write_text("path,class\na/1.png,p\n")  # no pair to score: no 0/0 (warnings are errors)
    result = runner.invoke(app, ["eval", str(tree_file), "--labels", str(one), "--json"])
    assert result.exit_code == 0, result.output
    emb = tmp_path / "other.npz"
    save_embeddings(emb, Embeddings(["z.png"], np.ones((1, 3)), np.zeros((1, 2)), True))
    for missing_or_other in (tmp_path / "typo.npz", emb):
        args = ["eval", str(tree_file), "--labels", str(one), "--embeddings", missing_or_other]
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 2 and result.stderr.startswith("error: "), result.output

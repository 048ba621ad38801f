"""Tree formats: Newick read by real parsers (Bio.Phylo, dendropy), JSON, round trips, cuts."""

from __future__ import annotations

import io
import json

import dendropy
import numpy as np
import pytest
from Bio import Phylo

from infohier_cli.errors import UserError
from infohier_cli.trees.disk import decode
from infohier_cli.trees.tree import Tree, min_cluster_size, quote_newick

HOSTILE = [
    "plain.png",
    "with space.png",
    "it's.png",
    "two''quotes.png",
    "paren(1).png",
    "co:lon.png",
    "com,ma.png",
    "semi;colon.png",
    "[bracket].png",
    "tab\there.png",
    "ünï/日本.png",
    "under_score.png",
    'dq"x.png',
    "sub/dir/a.tif",
]


def hostile_tree(seed: int = 0) -> Tree:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(len(HOSTILE), 2))
    points *= 0.9 / np.linalg.norm(points, axis=1, keepdims=True)
    decoded = decode(points)
    return Tree(list(HOSTILE), decoded.linkage, points, decoded.points)


def tree_clusters(tree: Tree) -> set[frozenset]:
    """Every inner node's leaf-name set."""
    members: dict[int, frozenset] = {i: frozenset([tree.names[i]]) for i in range(tree.n)}
    for row, (a, b) in enumerate(tree.children()):
        members[tree.n + row] = members[a] | members[b]
    return {members[k] for k in range(tree.n, 2 * tree.n - 1)}


def test_quoting_rules():
    assert quote_newick("a/b-1.png") == "a/b-1.png"
    assert quote_newick("a b") == "'a b'"
    assert quote_newick("u_s") == "'u_s'"
    assert quote_newick("it's") == "'it''s'"


def test_newick_shape():
    text = hostile_tree().to_newick()
    assert text.endswith(";\n") and text.count(";") == 2  # the name "semi;colon.png" is quoted
    assert "'it''s.png'" in text and "plain.png:" in text


def test_bio_phylo_reads_names_and_topology():
    tree = hostile_tree()
    parsed = Phylo.read(io.StringIO(tree.to_newick()), "newick")
    assert sorted(t.name for t in parsed.get_terminals()) == sorted(HOSTILE)
    clusters = {
        frozenset(t.name for t in clade.get_terminals()) for clade in parsed.get_nonterminals()
    }
    assert clusters == tree_clusters(tree)


def test_dendropy_reads_names_and_topology():
    tree = hostile_tree(1)
    parsed = dendropy.Tree.get(data=tree.to_newick(), schema="newick", preserve_underscores=True)
    assert sorted(leaf.taxon.label for leaf in parsed.leaf_node_iter()) == sorted(HOSTILE)
    clusters = {
        frozenset(leaf.taxon.label for leaf in node.leaf_iter())
        for node in parsed.postorder_internal_node_iter()
    }
    assert clusters == tree_clusters(tree)
    for edge in parsed.postorder_edge_iter():
        if edge.length is not None:
            assert edge.length >= 0


def test_newick_round_trip_keeps_names_and_topology():
    tree = hostile_tree(2)
    again = Tree.from_newick(tree.to_newick())
    assert sorted(again.names) == sorted(HOSTILE)
    assert tree_clusters(again) == tree_clusters(tree)


def test_reads_multifurcating_newick_from_other_tools():
    tree = Tree.from_newick("((a,b,c)x:1,(d:2,e:2):1)root;")
    assert tree.n == 5 and tree.names == ["a", "b", "c", "d", "e"]
    assert frozenset("abc") in tree_clusters(tree)


def test_negative_newick_lengths_are_read_as_zero_and_reported(tmp_path):
    from infohier_cli.trees.files import read_tree

    path = tmp_path / "nj tree.nwk"  # neighbour joining can give negative lengths
    path.write_text("((a:1,b:-0.5):-0.25,(c:1,d:1):2);\n", encoding="utf-8")
    notes: list[str] = []
    tree = read_tree(path, notes.append)
    assert notes == [f"note: 2 negative branch lengths read as 0 in {path}"]
    assert tree_clusters(tree) == {frozenset("ab"), frozenset("cd"), frozenset("abcd")}
    # b's −0.5 and (a,b)'s −0.25 read as 0: (a,b) at a's 1, the root at (c,d)'s 1 + 2
    assert tree.linkage[:, 2].tolist() == [1.0, 1.0, 3.0]
    notes.clear()
    read_tree(path)  # no callback: silent
    path.write_text("((a:1,b:0):0,(c:1,d:1):2);\n", encoding="utf-8")
    read_tree(path, notes.append)
    assert notes == []  # zero is not negative


def test_json_merge_heights_below_a_child_are_raised_and_reported(tmp_path):
    from infohier_cli.trees.files import read_tree

    tree = Tree(["a", "b", "c", "d"], np.array([[0, 1, 1.0, 2], [2, 3, 2.0, 2], [4, 5, 3.0, 4]]))
    document = json.loads(tree.to_json())
    document["linkage"][2][2] = 1.5  # the root below its child at 2.0
    document["linkage"][0][2] = -1.0  # a merge below its leaves
    path = tmp_path / "edited tree.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    notes: list[str] = []
    again = read_tree(path, notes.append)
    assert notes == [f"note: 2 merge heights below a child's raised to it in {path}"]
    assert again.linkage[:, 2].tolist() == [0.0, 2.0, 2.0]
    assert tree_clusters(again) == tree_clusters(tree)
    notes.clear()
    path.write_text(tree.to_json(), encoding="utf-8")
    assert read_tree(path, notes.append).linkage.tolist() == tree.linkage.tolist()
    assert notes == []


def test_malformed_newick_is_a_user_error():
    with pytest.raises(UserError):
        Tree.from_newick("((a,b);")
    with pytest.raises(UserError):
        Tree.from_newick("(a,b)")


def test_json_is_d3_ready_and_round_trips():
    tree = hostile_tree(3)
    document = json.loads(tree.to_json())
    assert document["schema"] == "infohier-tree/1" and document["n_leaves"] == len(HOSTILE)
    root = document["root"]
    assert root["size"] == len(HOSTILE) and len(root["children"]) == 2
    leaves, stack = [], [root]
    while stack:
        node = stack.pop()
        stack.extend(node.get("children", []))
        if "children" not in node:
            leaves.append(node)
    assert sorted(leaf["path"] for leaf in leaves) == sorted(HOSTILE)
    assert all({"x", "y", "id", "height"} <= set(leaf) for leaf in leaves)
    again = Tree.from_json(tree.to_json())
    assert again.names == tree.names
    np.testing.assert_array_equal(again.linkage, tree.linkage)


def test_the_plain_cut_undoes_the_highest_merges():
    # ((0,1),(2,3)) then 4 joins last
    linkage = np.array([[0, 1, 0.1, 2], [2, 3, 0.2, 2], [5, 6, 0.5, 4], [4, 7, 0.9, 5]])
    tree = Tree(list("abcde"), linkage)
    # ids follow the leaf order, left to right: e (the root's first child), a, b, c, d
    assert tree.cut(1, min_size=1).tolist() == [0, 0, 0, 0, 0]
    assert tree.cut(2, min_size=1).tolist() == [1, 1, 1, 1, 0]
    assert tree.cut(3, min_size=1).tolist() == [1, 1, 2, 2, 0]
    assert tree.cut(5, min_size=1).tolist() == [1, 2, 3, 4, 0]
    with pytest.raises(UserError):
        tree.cut(6, min_size=1)


def chain(leaves: list[int], next_node: int, height: float) -> tuple[list[list[float]], int]:
    """Linkage rows joining `leaves` one by one (a caterpillar); -> (rows, its top node)."""
    rows, top = [], leaves[0]
    for leaf in leaves[1:]:
        rows.append([top, leaf, height, 0])
        top, height = next_node, height + 0.01
        next_node += 1
    return rows, top


def test_the_cut_keeps_late_strays_with_the_group_they_joined():
    # two groups of 48 (leaves 0..47, 48..95), joined; then strays 96..99 join one by one,
    # as single linkage joins outliers last
    n = 100
    rows_a, top_a = chain(list(range(48)), n, 0.1)
    rows_b, top_b = chain(list(range(48, 96)), n + 47, 0.1)
    rows = rows_a + rows_b + [[top_a, top_b, 1.0, 0]]
    top = n + len(rows) - 1
    for stray in range(96, 100):
        rows.append([top, stray, 2.0 + stray, 0])
        top = n + len(rows) - 1
    tree = Tree([f"x{i}" for i in range(n)], np.array(rows))
    plain = tree.cut(2, min_size=1)
    assert plain.tolist() == [0] * 99 + [1]  # the last stray alone
    labels, tops = tree.clusters(2)  # default floor: round(0.2 * 100 / 2) = 10 leaves
    assert labels[:48].tolist() == [0] * 48 and labels[48:96].tolist() == [1] * 48
    assert set(labels[96:].tolist()) == {0}  # the strays stay in the cluster they joined
    assert tops.tolist() == [tree.root, top_b]
    assert np.array_equal(tree.cut(4, min_size=48), tree.cut(4, min_size=1))  # halved: 24..1
    assert min_cluster_size(100, 2) == 10 and min_cluster_size(10, 20) == 1


def test_deep_caterpillar_tree_needs_no_recursion():
    n = 20_000
    linkage = np.array(
        [[0, 1, 1.0, 2]] + [[i + 1, n + i - 1, 1.0 + i, i + 2] for i in range(1, n - 1)],
        dtype=float,
    )
    tree = Tree([f"l{i}" for i in range(n)], linkage)
    text = tree.to_newick()
    assert text.count("(") == n - 1
    assert Tree.from_newick(text).n == n

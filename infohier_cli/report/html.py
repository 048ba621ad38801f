"""`infohier report`: one self-contained HTML page about a run and its tree.

The page holds, with nothing fetched from the network (thumbnails are JPEG data URIs, the
style sheet and the few lines of script in `assets/` are inlined):
- the run: its settings (the checkpoint's TrainConfig), what it was trained on, and the
  training curves (`curves.py`) from its log;
- the tree, collapsible (`<details>`), down to `tree_leaves` clusters (`clusters.py`):
  each node with its size and its medoid's thumbnail;
- for each cut k, every cluster with its most representative images (medoids in latent
  space, `thumbnails.central_first`) and a random sample of its other images.
A leaf's thumbnail is its sample (`thumbnails.leaf_pictures`: the image file, or with the
run's `--group` the sample's stacked channel files, the first three as RGB).
Images are read only for what is shown: at most
k · (representatives + sample) + 2 · tree_leaves of them, whatever the number of images.
Names that are not UTF-8 are shown with U+FFFD in place of their undecodable bytes.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from importlib.resources import files
from pathlib import Path

import numpy as np

from infohier_cli import __version__
from infohier_cli.atomic import open_output
from infohier_cli.errors import UserError
from infohier_cli.report.clusters import (
    ClusterView,
    LeafSpans,
    cluster_members,
    cluster_view,
    expandable,
    leaf_spans,
)
from infohier_cli.report.curves import read_log, training_charts
from infohier_cli.report.thumbnails import TRIES, central_first, leaf_pictures, readable_pictures
from infohier_cli.run import RunDir, config_of, load_checkpoint
from infohier_cli.trees.tree import Tree

DEFAULT_CUTS = (4, 16)  # at most the number of images
JPEG_QUALITY = 85


def shown(text: str) -> str:
    """`text` escaped for HTML (quotes too), undecodable bytes as U+FFFD."""
    return escape(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def data_uri(picture: np.ndarray) -> str:
    """A (S, S, 3) picture in [0, 1] as a JPEG data URI."""
    from PIL import Image

    buffer = io.BytesIO()
    pixels = np.clip(np.rint(picture * 255), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass
class Thumbnails:
    """Each leaf's picture (`picture`: leaf -> picture or None; None: no images) read at
    most once, `tick` counting the reads; `uris`: the data URI of every leaf shown so far."""

    names: Sequence[str]
    picture: Callable[[int], np.ndarray | None] | None
    tick: Callable[[], None] = lambda: None
    _pictures: dict[int, np.ndarray | None] = field(default_factory=dict)
    uris: dict[int, str] = field(default_factory=dict)

    def _load(self, leaf: int) -> np.ndarray | None:
        if leaf not in self._pictures:
            self._pictures[leaf] = self.picture(leaf)
            self.tick()
        return self._pictures[leaf]

    def first(self, leaves: Sequence[int], count: int) -> list[int]:
        """The first `count` leaves of `leaves` whose image is readable."""
        if self.picture is None:
            return []
        found = readable_pictures(leaves, count, self._load)
        for leaf, picture in found:
            if leaf not in self.uris:
                self.uris[leaf] = data_uri(picture)
        return [leaf for leaf, _ in found]

    def img(self, leaf: int) -> str:
        name = shown(self.names[leaf])
        return f'<img src="{self.uris[leaf]}" alt="{name}" title="{name}">'


@dataclass(frozen=True)
class RunFacts:
    """What the report says about the run: settings, where it came from (`folder`: the
    image folder it was trained on), a summary and its training log."""

    settings: dict
    folder: str
    rows: list[tuple[str, str]]
    log: list[dict]


def run_facts(run: RunDir, warn: Callable[[str], None] = print) -> RunFacts:
    """The run's settings (from its checkpoint), a summary, and its training log (a note
    through `warn` for damaged log lines)."""
    state = load_checkpoint(run.checkpoint)
    config = config_of(state)
    rows = [
        ("run folder", str(Path(run.root).resolve())),
        ("trained on", str(state.get("folder", "?"))),
        ("samples", f"{len(state['images']):,}"),
        ("skipped files", _count_skipped(run.skipped)),
        ("epochs trained", str(int(state["epoch"]))),
        ("input channels", str(int(state["in_channels"]))),
        ("infohier version", str(state.get("version") or "?")),
    ]
    return RunFacts(asdict(config), str(state.get("folder", "")), rows, read_log(run.log, warn))


def _count_skipped(path: Path) -> str:
    """The rows of a run's skipped.txt (tab-separated, quoted as `run.write_skipped`
    writes it); '?' when it is missing."""
    if not path.is_file():
        return "?"
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        rows = sum(1 for _ in csv.reader(handle, delimiter="\t"))
    return f"{rows:,}"


@dataclass(frozen=True)
class Layout:
    """How much the report shows: `tree_leaves` clusters at the bottom of the tree view,
    per cluster `representatives` medoid images and a `sample` of others."""

    tree_leaves: int = 50
    representatives: int = 4
    sample: int = 12


def make_report(
    out: Path | str,
    run: RunDir,
    tree_file: Path | None = None,
    embeddings_file: Path | None = None,
    images: Path | None = None,
    cuts: Sequence[int | str] | None = None,
    layout: Layout | None = None,
    warn: Callable[[str], None] = print,
    progress: bool = False,
) -> None:
    """`infohier report`: read the run, its tree (`tree_file`, or the default tree built
    from the embeddings as `infohier tree` builds it) and the leaves' latents, choose the
    levels (`cuts`: k or 'auto', as `export --cut`; default DEFAULT_CUTS) and write the
    report. `images`: default the folder the run was trained on."""
    from infohier_cli.trees.cut_auto import leaf_latents, resolve_cuts
    from infohier_cli.trees.files import read_tree
    from infohier_cli.trees.registry import build_tree

    facts = run_facts(run, warn)
    embeddings_file = Path(embeddings_file or run.embeddings)
    if images is not None and not Path(images).is_dir():
        raise UserError(f"--images: no such folder: {images}")
    if images is None and facts.folder and Path(facts.folder).is_dir():
        images = Path(facts.folder)
    elif images is None:
        warn(
            f"note: the run's image folder {facts.folder!r} is not here; no thumbnails "
            "(give --images FOLDER)"
        )
    if tree_file is None:
        tree = build_tree(embeddings_file, "auto")
        source = f"the default tree of {embeddings_file} (as infohier tree builds it)"
    else:
        tree = read_tree(tree_file, warn)
        source = str(tree_file)
    latent = leaf_latents(tree, embeddings_file)
    if cuts is None:
        cuts = sorted({min(k, tree.n) for k in DEFAULT_CUTS})
    ks = resolve_cuts(tree, list(cuts), "gap", None, warn)
    pictures = write_report(out, facts, tree, source, latent, images, ks, layout, progress)
    if images is not None and pictures == 0:
        warn(f"note: no leaf of the tree is a readable image under {images}; names only")


def write_report(
    out: Path | str,
    facts: RunFacts,
    tree: Tree,
    tree_source: str,
    latent: np.ndarray,
    images: Path | None,
    cuts: Sequence[int],
    layout: Layout | None = None,
    progress: bool = False,
) -> int:
    """Write the report (module docstring) to `out` ('-' = stdout), atomically; -> the
    number of images shown.

    latent: (n, D) the latents of `tree`'s leaves in leaf order; images: the folder the
    leaf names are paths in (None: names only, no thumbnails); cuts: the k of each level."""
    from tqdm import tqdm

    from infohier_cli.training.similarity import normalise

    layout = layout or Layout()
    if tree.n < 2:
        raise UserError("a report needs a tree of at least 2 leaves")
    if layout.tree_leaves < 2:
        raise UserError("--tree-leaves must be at least 2")
    unit = normalise(latent, dtype=np.float32)  # medoid scores: float32 is enough
    spans = leaf_spans(tree)
    cut = {k: tree.clusters(k) for k in dict.fromkeys(cuts)}
    levels = {k: tops for k, (_labels, tops) in cut.items()}
    wanted = sum(len(r) for r in levels.values()) * (layout.representatives + layout.sample)
    with tqdm(
        total=wanted + layout.tree_leaves * 2, desc="thumbnails", disable=not progress
    ) as bar:
        group = str(facts.settings.get("group") or "")
        pictures = None if images is None else leaf_pictures(tree.names, images, group)
        thumbs = Thumbnails(tree.names, pictures, bar.update)
        sections = [
            _level_section(k, labels, tops, unit, thumbs, layout)
            for k, (labels, tops) in cut.items()
        ]
        tree_html = _tree_section(tree, spans, unit, thumbs, layout, levels)
    shown_clusters = min(layout.tree_leaves, tree.n)
    page = _page(facts, tree, tree_source, images, levels, shown_clusters, tree_html, sections)
    with open_output(out, encoding="utf-8") as handle:
        handle.write(page)
    return len(thumbs.uris)


def _asset(name: str) -> str:
    return (files("infohier_cli.report") / "assets" / name).read_text(encoding="utf-8")


def _page(
    facts: RunFacts,
    tree: Tree,
    tree_source: str,
    images: Path | None,
    levels: dict[int, np.ndarray],
    shown_clusters: int,
    tree_html: str,
    sections: list[str],
) -> str:
    """The whole document."""
    links = "".join(f'<a href="#k{k}">{k} clusters</a>' for k in levels)
    settings = _pairs((key, str(value)) for key, value in sorted(facts.settings.items()))
    charts = training_charts(facts.log) or '<p class="muted">No training log in the run.</p>'
    pictures = (
        f"thumbnails from {shown(str(images))}"
        if images is not None
        else "no image folder: names only, no thumbnails"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>infohier report: {tree.n:,} images</title>"
        f"<style>{_asset('report.css')}</style></head><body>"
        f'<h1>infohier report</h1><p class="muted">{tree.n:,} images; tree: '
        f"{shown(tree_source)}; {pictures}. Made by infohier {shown(__version__)}.</p>"
        f'<nav><a href="#run">Run</a><a href="#training">Training</a><a href="#tree">Tree</a>'
        f"{links}</nav>"
        f'<h2 id="run">Run</h2>{_pairs(facts.rows)}<h3>Settings</h3>{settings}'
        f'<h2 id="training">Training</h2>{charts}'
        '<h2>Tree</h2><p class="muted">Each node: its number of images and its medoid; '
        f"the top of the tree down to {shown_clusters} clusters.</p>"
        '<button id="expand-all" type="button">expand all</button>'
        '<button id="collapse-all" type="button">collapse all</button>'
        f'<div id="tree">{tree_html}</div>'
        + "".join(sections)
        + f'<pre id="selftest" hidden></pre><script>{_asset("report.js")}</script>'
        "</body></html>\n"
    )


def _images(count: int) -> str:
    return f"{count:,} image{'' if count == 1 else 's'}"


def _pairs(rows: Iterable[tuple[str, str]]) -> str:
    """Name-value pairs in a grid of columns."""
    items = "".join(f"<div><code>{shown(k)}</code> {shown(v)}</div>" for k, v in rows)
    return f'<div class="pairs">{items}</div>'


def _tree_section(
    tree: Tree,
    spans: LeafSpans,
    unit: np.ndarray,
    thumbs: Thumbnails,
    layout: Layout,
    levels: dict[int, np.ndarray],
) -> str:
    """Nested <details> for the top of the tree (root open), built with an explicit stack."""
    shown_clusters = min(layout.tree_leaves, tree.n)
    kids = tree.children()
    parent = np.full(2 * tree.n - 1, -1, dtype=np.int64)
    parent[kids.ravel()] = np.repeat(np.arange(tree.n, 2 * tree.n - 1), 2)
    where: dict[int, list[str]] = {}
    for k, tops in levels.items():
        for cluster, top in enumerate(tops):
            node = int(top)  # linked at its top, or the nearest ancestor drawn
            while node != tree.root and not expandable(tree, int(parent[node]), shown_clusters):
                node = int(parent[node])
            link = f'<a href="#k{k}-c{cluster}">k={k} #{cluster}</a>'
            where.setdefault(node, []).append(link)
    parts: list[str] = []
    stack: list[tuple[int, bool, int]] = [(tree.root, True, 0)]
    while stack:
        node, entering, depth = stack.pop()
        if not entering:
            parts.append("</div></details>")
            continue
        label = _node_label(tree, spans, unit, thumbs, node) + "".join(where.get(node, []))
        if not expandable(tree, node, shown_clusters):
            below = ' <span class="more">(subtree not shown)</span>' if node >= tree.n else ""
            parts.append(f'<div class="node">{label}{below}</div>')
        else:
            parts.append(f"<details{' open' if depth == 0 else ''}><summary>{label}</summary>")
            parts.append('<div class="kids">')
            stack.append((node, False, depth))
            a, b = kids[node - tree.n]
            stack += [(int(b), True, depth + 1), (int(a), True, depth + 1)]
    return "".join(parts)


def _node_label(
    tree: Tree, spans: LeafSpans, unit: np.ndarray, thumbs: Thumbnails, node: int
) -> str:
    """A node's medoid thumbnail and size (a single image: its name)."""
    found = thumbs.first(central_first(spans.members(node), unit)[: 1 + TRIES], 1)
    picture = thumbs.img(found[0]) if found else ""
    if node < tree.n:
        return f"{picture}{shown(tree.names[node])}"
    return f"{picture}<b>{_images(spans.size(node))}</b>"


def _level_section(
    k: int,
    labels: np.ndarray,
    tops: np.ndarray,
    unit: np.ndarray,
    thumbs: Thumbnails,
    layout: Layout,
) -> str:
    """The cut into k (`labels` (n,), the top node of each cluster `tops` (k,)): one card
    per cluster."""
    cards = []
    for cluster, members in enumerate(cluster_members(labels, k)):
        view = cluster_view(
            members, int(tops[cluster]), unit, layout.representatives, layout.sample, TRIES
        )
        cards.append(_card(k, cluster, view, thumbs, layout, len(labels)))
    return (
        f'<h2 id="k{k}">{k} clusters</h2><p class="muted">The cut into {k} (cluster ids as '
        f"in <code>infohier export --cut {k}</code>): each cluster's most representative "
        "images (medoids in latent space, the most central first), then a random sample "
        'of its other images.</p><div class="cards">' + "".join(cards) + "</div>"
    )


def _card(
    k: int, cluster: int, view: ClusterView, thumbs: Thumbnails, layout: Layout, n: int
) -> str:
    """One cluster: its size, its most representative images and a sample of the others
    (their names when no image can be shown)."""
    central = thumbs.first(view.central, layout.representatives)
    sample = thumbs.first([leaf for leaf in view.sample if leaf not in central], layout.sample)
    parts = [
        f'<div class="card" id="k{k}-c{cluster}"><h3>cluster {cluster} · '
        f"{_images(view.size)} ({100 * view.size / n:.1f}%)</h3>",
        '<div class="label">most representative</div>',
    ]
    if central:
        parts.append(f'<div class="strip">{"".join(map(thumbs.img, central))}</div>')
    else:
        names = view.central[: layout.representatives]
        parts.append(
            f'<div class="names">{"<br>".join(shown(thumbs.names[i]) for i in names)}</div>'
        )
    if sample:
        parts.append(f'<div class="label">a random sample of {len(sample)} others</div>')
        parts.append(f'<div class="strip small">{"".join(map(thumbs.img, sample))}</div>')
    return "".join(parts) + "</div>"

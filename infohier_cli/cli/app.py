"""The `infohier` commands: validate options, build a config, call one library function.

No maths here. Heavy imports (torch, geoopt) happen inside the commands, so that
`infohier --help` answers at once.
"""

from __future__ import annotations

import functools
import inspect
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from infohier_cli import __version__
from infohier_cli.assign import ASSIGN_FORMATS
from infohier_cli.cli.options import (
    choice_enum,
    config_options,
    given_settings,
    with_parameters,
)
from infohier_cli.config import resumable_options
from infohier_cli.embeddings import EMBED_FORMATS
from infohier_cli.errors import UserError, one_line
from infohier_cli.report.plot import PLOT_LAYOUTS
from infohier_cli.run import (
    RunDir,
    landing_run,
    refuse_among_images,
    refuse_clashing_outputs,
    refuse_output,
)
from infohier_cli.trees.cut_auto import AUTO_CRITERIA
from infohier_cli.trees.files import EXPORT_FORMATS, LABEL_MODES, TREE_FORMATS
from infohier_cli.trees.registry import source_names

app = typer.Typer(
    name="infohier",
    help="The hierarchy hidden in a folder of images: an SSL encoder and a hyperbolic "
    "embedding trained jointly (InfoHier), decoded into a tree. Typical use:\n\n"
    "infohier train ./images && infohier tree --out tree.nwk",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEFAULT_RUN = Path("infohier-run")


def run_folder(text: str | Path) -> Path:
    """`--run`'s value as a folder; an empty string (an unset shell variable, say) is refused,
    since Path('') is the current folder and a run would write its files there."""
    if not str(text):
        raise typer.BadParameter("must name a folder, not an empty string")
    return Path(text)


RunOption = Annotated[
    Path,
    typer.Option(
        "--run",
        "--run-dir",
        parser=run_folder,
        metavar="<path>",
        help="Run folder: checkpoint, embeddings, log and skipped.txt live "
        "here. Under torchrun write --run-dir (torchrun reads --run as its own --run-path).",
        show_default=True,
    ),
]
DeviceOption = Annotated[
    str, typer.Option(help="auto (CUDA when present), cpu, cuda or cuda:N.", show_default=True)
]
ForwardBatchOption = Annotated[
    int, typer.Option(help="Images per forward pass.", min=1, max=1 << 20, show_default=True)
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        help="Data-loading processes (at most one per CPU).",
        min=0,
        show_default="0 on CPU, up to 8 on CUDA",
    ),
]

GroupOption = Annotated[
    str | None,
    typer.Option(
        help="One sample = several channel files: a regex with named groups "
        "(?P<sample>...) and (?P<channel>...), searched in each relative path; channels "
        "are stacked in sorted order, incomplete samples skipped and reported. "
        "'' = each file is a sample.",
        show_default="the run's (train --group), else none",
    ),
]


# Choices come from the library that acts on them (one definition each).
TreeFormat = choice_enum("tree_format", TREE_FORMATS)
ExportFormat = choice_enum("export_format", EXPORT_FORMATS)
EmbedFormat = choice_enum("embed_format", EMBED_FORMATS)
LabelMode = choice_enum("label_mode", LABEL_MODES)
TreeSource = choice_enum("tree_source", source_names())
AutoCriterion = choice_enum("auto_criterion", AUTO_CRITERIA)
AssignFormat = choice_enum("assign_format", ASSIGN_FORMATS)
PlotLayout = choice_enum("plot_layout", PLOT_LAYOUTS)


QUIET = {"on": False}  # set by `infohier --quiet` or `infohier COMMAND --quiet`
QUIET_FLAGS = ("--quiet/--no-quiet", "-q")
QUIET_HELP = "Print nothing but errors (no progress, no notes)."
QUIET_OPTION = typer.Option(*QUIET_FLAGS, help=QUIET_HELP)
COMMAND_QUIET_OPTION = typer.Option(
    *QUIET_FLAGS, help=QUIET_HELP, show_default="as before the command"
)


def warn(message: str) -> None:
    """One line on stderr, without breaking a progress bar (nothing under --quiet)."""
    from tqdm import tqdm

    if not QUIET["on"]:
        tqdm.write(message, file=sys.stderr)


def show_progress() -> bool:
    """Progress bars only for a person watching: stderr is a terminal and no --quiet."""
    return not QUIET["on"] and sys.stderr.isatty()


def user_errors(command):
    """Report UserError as one line on stderr with exit code 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as error:
            typer.echo(f"error: {one_line(str(error))}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def quiet_option(command):
    """Give `command` the `--quiet/-q` option too, so it works after the command's name
    (`infohier tree -q`) as well as before it (`infohier -q tree`)."""
    quiet = inspect.Parameter(
        "quiet",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[bool | None, COMMAND_QUIET_OPTION],
        default=None,
    )

    @functools.wraps(command)
    def wrapper(*args, quiet: bool | None = None, **kwargs):
        if quiet is not None:  # after the command it overrides `infohier -q/--no-quiet`
            QUIET["on"] = quiet
        return command(*args, **kwargs)

    return with_parameters(wrapper, command, [quiet])


def _version(value: bool) -> None:
    if value:
        typer.echo(f"infohier {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    quiet: Annotated[bool, QUIET_OPTION] = False,
) -> None:
    """infohier: unsupervised hierarchical clustering of image folders."""
    QUIET["on"] = quiet


def _require_folder(folder: Path) -> None:
    if not folder.exists():
        raise UserError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise UserError(f"not a folder: {folder}")


@app.command()
@user_errors
@quiet_option
@config_options
def train(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Folder of images (searched recursively).")],
    run: RunOption = DEFAULT_RUN,
    device: DeviceOption = "auto",
    workers: WorkersOption = None,
    sync_bn: Annotated[
        bool,
        typer.Option(help="Under torchrun, synchronise batch-norm statistics across processes."),
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the run in --run with its settings; only "
            f"{', '.join(resumable_options())} (--epochs: the new total), --device and "
            "--workers may change."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the run in --run.")] = False,
    **settings: Any,
) -> None:
    """Train the encoder and the hyperbolic embedding jointly on FOLDER's images.

    Leaves checkpoint.pt (resumable), embeddings.npz, train_log.jsonl and skipped.txt in the
    run folder. Under torchrun it trains with DistributedDataParallel.
    """
    from infohier_cli.training.train import train as run_training

    _require_folder(folder)
    try:
        result = run_training(
            folder,
            run,
            given_settings(ctx, settings),
            resume=resume,
            overwrite=overwrite,
            device=device,
            workers=workers,
            sync_bn=sync_bn,
            warn=warn,
            progress=show_progress(),
        )
    except KeyboardInterrupt as interruption:
        warn(str(interruption) or "interrupted")
        raise typer.Exit(130) from None
    warn(
        f"trained on {result.n_images} images for {result.epochs} epochs; "
        f"run folder: {result.run_dir}"
    )


@app.command()
@user_errors
@quiet_option
def embed(
    folder: Annotated[Path, typer.Argument(help="Folder of images to place in the disk.")],
    run: RunOption = DEFAULT_RUN,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output file ('-' = stdout for csv). Needed unless FOLDER is the run's own "
            "image folder (then RUN/embeddings.npz is refreshed).",
            show_default="RUN/embeddings.npz for the run's own folder",
        ),
    ] = None,
    format: Annotated[
        EmbedFormat | None,
        typer.Option(
            "--format", help="npz or csv.", show_default="from --out's extension, else npz"
        ),
    ] = None,
    with_latent: Annotated[
        bool, typer.Option(help="csv: add the latent columns z0..zD-1.", show_default=True)
    ] = False,
    batch_size: ForwardBatchOption = 256,
    device: DeviceOption = "auto",
    workers: WorkersOption = None,
    group: GroupOption = None,
) -> None:
    """Embed FOLDER's images with a trained model (forward pass only, no augmentation).

    Writes paths, latents and Poincare-ball coordinates; images never seen in training get
    their place the same way. Under torchrun the images are sharded across processes.
    """
    from infohier_cli.embed import embed_folder

    _require_folder(folder)
    target = out or RunDir(run).embeddings
    refuse_among_images(target, folder)
    _embeddings_target_allowed(folder, target)
    as_csv = str(target) == "-" or target.suffix.lower() == ".csv"
    fmt = format.value if format else ("csv" if as_csv else "npz")
    if str(target) == "-" and fmt != "csv":
        raise UserError("--out - writes csv only (npz is a binary file): give a file name")
    n, skipped = embed_folder(
        folder,
        run,
        target,
        fmt,
        device=device,
        batch_size=batch_size,
        workers=workers,
        with_latent=with_latent,
        warn=warn,
        group=group,
        progress=show_progress(),
    )
    if str(target) != "-":
        warn(f"embedded {n} images -> {target}")


def _embeddings_target_allowed(folder: Path, target: Path) -> None:
    """Into a run folder `embed` writes only `embeddings.npz` of the images that run was
    trained on (its skipped.txt follows); anything else needs an --out elsewhere. A link is
    judged by the file it names, the one an atomic write replaces."""
    landing = landing_run(target)
    if landing is None:
        return
    from infohier_cli.run import Checkpoint

    run, name = landing
    if name != run.embeddings.name:
        raise UserError(
            f"--out {target} is inside the run folder {run.root}, which holds only the "
            "run's own files; choose a file elsewhere"
        )
    if Path(Checkpoint.load(run.checkpoint).folder) != folder.resolve():
        raise UserError(
            f"{folder} is not the folder the run in {run.root} was trained on: give "
            "--out FILE (its embeddings.npz and skipped.txt stay the run's)"
        )


@app.command()
@user_errors
@quiet_option
def tree(
    out: Annotated[Path, typer.Option(help="Output file, or '-' for stdout.")],
    run: RunOption = DEFAULT_RUN,
    embeddings: Annotated[
        Path | None, typer.Option(help="Embeddings file.", show_default="RUN/embeddings.npz")
    ] = None,
    format: Annotated[
        TreeFormat | None,
        typer.Option(
            "--format", help="newick or json.", show_default="from --out's extension, else newick"
        ),
    ] = None,
    source: Annotated[
        TreeSource,
        typer.Option(
            help="diffusion: Ward on a diffusion map of the latents' nearest-neighbour graph "
            "(exact, n^2/2 distances); single: single linkage on the latents (exact); latent: "
            "Ward linkage on the latents (exact up to 15,000 images, above that Ward inside "
            "and between k-means cells; more even flat cuts); disk: greedy decoding of the "
            "Poincare-ball points (exact single linkage on the hyperbolic LCA; O(n log n) in "
            "the 2-D disk, O(n^2) time in a larger ball); auto: diffusion up to 10,000 images, "
            "else latent.",
            show_default=True,
        ),
    ] = TreeSource.auto,
    labels: Annotated[
        LabelMode,
        typer.Option(
            help="Leaf labels: path (relative path), stem (file name without extension), or id "
            "(L000001...; a TSV id->path map is written beside --out).",
            show_default=True,
        ),
    ] = LabelMode.path,
) -> None:
    """Decode the embeddings into a binary tree and write it as Newick or JSON."""
    from infohier_cli.trees.files import check_labels, write_tree
    from infohier_cli.trees.registry import build_tree

    refuse_output(out, inputs=[embeddings])
    check_labels(out, labels.value)
    source_file = embeddings or RunDir(run).embeddings
    fmt = format.value if format else ("json" if out.suffix.lower() == ".json" else "newick")
    built = build_tree(source_file, source.value, warn)
    write_tree(built, out, fmt, labels.value)
    if str(out) != "-":
        warn(f"tree over {built.n} images -> {out}")


@app.command()
@user_errors
@quiet_option
def export(
    tree_file: Annotated[
        Path, typer.Argument(metavar="TREE", help="A tree in Newick or infohier JSON.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Output file, or '-' for stdout.", show_default="none")
    ] = None,
    format: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="newick, json or csv.",
            show_default="from --out's suffix (.csv, .json, .nwk), else csv with --cut, "
            "else newick",
        ),
    ] = None,
    cut: Annotated[
        list[str] | None,
        typer.Option(
            help="Cut into K clusters (repeatable): csv of path and cluster id at each K. "
            "'auto' chooses K by --auto-criterion and says which K and why on stderr.",
            show_default="none",
        ),
    ] = None,
    auto_criterion: Annotated[
        AutoCriterion,
        typer.Option(
            help="How --cut auto chooses K among 2..sqrt(n): gap (the largest relative gap "
            "between successive merge heights) or silhouette (the highest mean silhouette "
            "of the latents in --embeddings).",
            show_default=True,
        ),
    ] = AutoCriterion.gap,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Draw the Poincare disk to this PNG/SVG/PDF: leaves coloured by the first "
            "--cut (a legend names each cluster), merges as hyperbolic geodesics.",
            show_default="none",
        ),
    ] = None,
    plot_layout: Annotated[
        PlotLayout,
        typer.Option(
            help="--plot: where the leaves sit. tree: on a circle in the tree's own leaf "
            "order, so every cluster is one sector (colours, positions and arcs all from "
            "TREE); disk: at the learnt disk points (from TREE's JSON or --embeddings; "
            "clusters of a latent tree may overlap there).",
            show_default=True,
        ),
    ] = PlotLayout.tree,
    dendrogram: Annotated[
        Path | None,
        typer.Option(
            help="Draw a dendrogram of the tree's top levels to this PNG/SVG: each of its "
            "--dendrogram-leaves clusters labelled with its size, with --images a thumbnail "
            "of its medoid (latents from --embeddings) under it.",
            show_default="none",
        ),
    ] = None,
    dendrogram_leaves: Annotated[
        int,
        typer.Option(help="--dendrogram: clusters at the bottom of the picture.", min=2),
    ] = 30,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="Embeddings giving leaf positions for --plot when TREE has none.",
            show_default="infohier-run/embeddings.npz",
        ),
    ] = None,
    folders: Annotated[
        Path | None,
        typer.Option(
            help="Write one folder per cluster of the first --cut here (c0, c1, ..., numbered "
            "as in --out's CSV), with links to the images (or copies, --copy) and "
            "clusters.csv; needs --images.",
            show_default="none",
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            help="The image folder the tree was made from (leaf names are paths in it); "
            "for --folders and the --dendrogram thumbnails.",
            show_default="none",
        ),
    ] = None,
    copy: Annotated[
        bool, typer.Option(help="--folders: copy the images instead of linking them.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="--folders: replace an earlier export's folder (one holding clusters.csv), "
            "all of its contents; any other non-empty folder is refused."
        ),
    ] = False,
) -> None:
    """Convert a tree between formats, cut it into flat clusters, plot it in the disk or
    as a dendrogram, or write one folder per cluster."""
    from infohier_cli.trees.cut_auto import leaf_latents, parse_cuts, resolve_cuts
    from infohier_cli.trees.files import attach_points, export_format, export_tree, read_tree

    if out is None and plot is None and folders is None and dendrogram is None and not cut:
        raise UserError("nothing to do: give --out, --cut, --plot, --dendrogram or --folders")
    if folders is not None and (not cut or images is None):
        raise UserError("--folders needs --cut K (or auto) and --images FOLDER")
    if images is not None and not images.is_dir():
        raise UserError(f"--images: no such folder: {images}")
    refuse_clashing_outputs(
        {"--out": out, "--plot": plot, "--dendrogram": dendrogram, "--folders": folders}
    )
    refuse_output(out, inputs=[tree_file, embeddings])
    if plot is not None:
        from infohier_cli.report.plot import plot_format

        refuse_output(plot, "--plot", [tree_file, embeddings])
        plot_format(plot)
    if dendrogram is not None:
        from infohier_cli.report.dendrogram import dendrogram_format

        refuse_output(dendrogram, "--dendrogram", [tree_file, embeddings])
        dendrogram_format(dendrogram)
    if images is not None:
        for picture, option in ((plot, "--plot"), (dendrogram, "--dendrogram")):
            if picture is not None:
                refuse_among_images(picture, images, option)
    fmt = export_format(out, format.value if format else None, cut or [])
    if cut and fmt != "csv" and not (plot or folders):
        asked = f"--format {fmt}" if format else f"--out {out}"
        raise UserError(
            f"{asked} writes the tree as {fmt}, not the --cut clusters (a csv): write them "
            "to a .csv, or use the cut for --plot or --folders"
        )
    cuts = parse_cuts(cut or [])
    embeddings_file = embeddings or RunDir(DEFAULT_RUN).embeddings
    tree_obj = read_tree(tree_file, warn)
    latent = None
    if "auto" in cuts and auto_criterion.value == "silhouette":
        latent = leaf_latents(tree_obj, embeddings_file)
    ks = resolve_cuts(tree_obj, cuts, auto_criterion.value, latent, warn)
    # Everything the outputs need is read and checked before the first one is written.
    plotted = tree_obj
    if plot is not None and plot_layout.value == "disk":
        plotted = attach_points(tree_obj, embeddings_file)
    unit = None
    if dendrogram is not None and images is not None:
        from infohier_cli.report.dendrogram import unit_latents

        unit = unit_latents(tree_obj, embeddings_file, warn, required=embeddings is not None)
    if folders is not None:
        from infohier_cli.report.folders import check_cluster_folders

        check_cluster_folders(tree_obj, images, folders, overwrite)
    if out is not None or (ks and plot is None and folders is None):
        export_tree(tree_obj, out, fmt, ks)
    if plot is not None:
        from infohier_cli.report.plot import plot_disk

        plot_disk(plotted, plot, ks[0] if ks else None, plot_layout.value)
    if dendrogram is not None:
        from infohier_cli.report.dendrogram import plot_dendrogram

        plot_dendrogram(tree_obj, dendrogram, dendrogram_leaves, images, unit, warn)
    if folders is not None:
        from infohier_cli.report.folders import write_cluster_folders

        write_cluster_folders(
            tree_obj, ks[0], images, folders, copy=copy, replace=overwrite, warn=warn
        )


@app.command()
@user_errors
@quiet_option
def report(
    out: Annotated[Path, typer.Option(help="The HTML file to write, or '-' for stdout.")],
    run: RunOption = DEFAULT_RUN,
    tree_file: Annotated[
        Path | None,
        typer.Option(
            "--tree",
            help="The run's tree (Newick or JSON, path labels).",
            show_default="the default tree, built from the embeddings as `infohier tree` does",
        ),
    ] = None,
    embeddings: Annotated[
        Path | None,
        typer.Option(help="Latents of the tree's leaves.", show_default="RUN/embeddings.npz"),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            help="The image folder the tree was made from (leaf names are paths in it), "
            "for the thumbnails.",
            show_default="the folder the run was trained on",
        ),
    ] = None,
    cut: Annotated[
        list[str] | None,
        typer.Option(
            help="Show every cluster of the cut into K (repeatable): its most representative "
            "images and a sample. 'auto' chooses K as `export --cut auto` does. The default "
            "levels are capped at the number of images.",
            show_default="4 and 16",
        ),
    ] = None,
    tree_leaves: Annotated[
        int,
        typer.Option(
            help="The collapsible tree shows the top levels down to this many clusters.", min=2
        ),
    ] = 50,
    representatives: Annotated[
        int, typer.Option(help="Most representative images (medoids) per cluster.", min=1)
    ] = 4,
    sample: Annotated[
        int, typer.Option(help="Other images per cluster, drawn at random.", min=0)
    ] = 12,
) -> None:
    """Write a self-contained HTML report of a run and its tree: settings, training
    curves, the collapsible tree with each cluster's size, and for each --cut every
    cluster's most representative images and a sample (thumbnails embedded, no network)."""
    from infohier_cli.report.html import Layout, make_report
    from infohier_cli.trees.cut_auto import parse_cuts

    refuse_output(out, inputs=[tree_file, embeddings])
    make_report(
        out,
        RunDir(run),
        tree_file,
        embeddings,
        images,
        parse_cuts(cut) if cut else None,
        Layout(tree_leaves, representatives, sample),
        warn=warn,
        progress=show_progress(),
    )
    if str(out) != "-":
        warn(f"report -> {out}")


@app.command()
@user_errors
@quiet_option
def assign(
    folder: Annotated[Path, typer.Argument(help="Folder of new images to place.")],
    run: RunOption = DEFAULT_RUN,
    tree_file: Annotated[
        Path | None,
        typer.Option(
            "--tree",
            help="The run's tree (Newick or JSON, path labels); needed for --cut.",
            show_default="none",
        ),
    ] = None,
    cut: Annotated[
        list[int] | None,
        typer.Option(
            help="Report each new image's cluster in the cut into K (repeatable): the "
            "cluster of its nearest training image.",
            min=1,
            show_default="none",
        ),
    ] = None,
    neighbours: Annotated[
        int,
        typer.Option("--neighbours", "-k", help="Nearest training images listed.", min=1),
    ] = 5,
    out: Annotated[Path, typer.Option(help="Output file, or '-' for stdout.")] = Path("-"),
    format: Annotated[
        AssignFormat | None,
        typer.Option(
            "--format", help="csv or json.", show_default="from --out's extension, else csv"
        ),
    ] = None,
    batch_size: ForwardBatchOption = 256,
    device: DeviceOption = "auto",
    workers: WorkersOption = None,
    group: GroupOption = None,
) -> None:
    """Place new images in a trained run's tree without retraining: each image's k nearest
    training images (distance 1 - w, the latent similarity) and its cluster at each --cut."""
    from infohier_cli.assign import assign_folder

    _require_folder(folder)
    refuse_output(out, inputs=[tree_file])
    refuse_among_images(out, folder)
    fmt = format.value if format else ("json" if out.suffix.lower() == ".json" else "csv")
    placement = assign_folder(
        folder, run, tree_file, cut or [], neighbours, out, fmt,
        device=device, batch_size=batch_size, workers=workers, warn=warn, group=group,
        progress=show_progress(),
    )  # fmt: skip
    if str(out) != "-":
        warn(f"placed {len(placement.ids)} images -> {out}")


@app.command(name="eval")
@user_errors
@quiet_option
def evaluate(
    tree_file: Annotated[
        Path, typer.Argument(metavar="TREE", help="A tree in Newick or infohier JSON.")
    ],
    labels: Annotated[
        Path | None,
        typer.Option(
            help="CSV with a header: path,class[,superclass,...] (paths relative to the image "
            "folder). Each column after the path is one label level.",
            show_default="none",
        ),
    ] = None,
    labels_from_folders: Annotated[
        bool,
        typer.Option(help="Use the folder names above each image as labels.", show_default=True),
    ] = False,
    depth: Annotated[
        int,
        typer.Option(
            help="With --labels-from-folders: how many folder levels (1 = parent folder).",
            min=1,
            show_default=True,
        ),
    ] = 1,
    embeddings: Annotated[
        Path | None,
        typer.Option(
            help="Latents for the Dasgupta cost (every leaf must be in them).",
            show_default="infohier-run/embeddings.npz if present and it holds every leaf",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.", show_default="off")
    ] = False,
) -> None:
    """Score a tree against labels: dendrogram purity, purity/NMI/ARI of the cut into as
    many clusters as classes, and the Dasgupta cost under the latent similarity."""
    import json

    from infohier_cli.evaluate.score import evaluate_tree, read_label_levels
    from infohier_cli.trees.cut_auto import leaf_latents
    from infohier_cli.trees.files import read_tree

    if (labels is None) == (not labels_from_folders):
        raise UserError("give exactly one of --labels FILE or --labels-from-folders")
    tree_obj = read_tree(tree_file, warn)
    codes, unmatched = read_label_levels(
        tree_obj, labels, depth if labels_from_folders else None, warn
    )
    latent = None
    if embeddings is not None:
        latent = leaf_latents(tree_obj, embeddings)
    elif RunDir(DEFAULT_RUN).embeddings.is_file():
        try:
            latent = leaf_latents(tree_obj, RunDir(DEFAULT_RUN).embeddings)
        except UserError as error:
            warn(f"note: no Dasgupta cost: {error}")
    report = evaluate_tree(tree_obj, codes, latent)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{report['n_leaves']} {'leaf' if report['n_leaves'] == 1 else 'leaves'}")
    typer.echo(
        f"{'level':<14}{'classes':>8}{'unlabelled':>11}{'dend.purity':>12}"
        f"{'cut purity':>11}{'NMI':>7}{'ARI':>7}"
    )
    for level, scores in report["levels"].items():
        typer.echo(
            f"{level:<14}{scores['classes']:>8}{scores['unlabelled']:>11}"
            f"{scores['dendrogram_purity']:>12.4f}{scores['cut_purity']:>11.4f}"
            f"{scores['cut_nmi']:>7.3f}{scores['cut_ari']:>7.3f}"
        )
    if "dasgupta_cost" in report:
        cost = report["dasgupta_cost"]
        typer.echo(
            f"Dasgupta cost (normalised, latent similarity): {cost['value']:.5f}"
            + (f" ± {cost['stderr']:.5f}" if cost["stderr"] else "")
        )


def main() -> None:
    """Console entry point. A usage error is one line, `error: ...` and a pointer to --help,
    with exit code 2; a closed stdout (`infohier ... | head -1`) ends quietly; stdout is
    UTF-8 whatever the locale, as the output files are."""
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # typer < 0.20 uses click itself
        from click.exceptions import ClickException
    from infohier_cli.atomic import WRITE_ERRNOS

    if sys.stdout is not None and hasattr(sys.stdout, "reconfigure"):
        # what goes to stdout is what the files get: UTF-8, names' undecodable bytes kept
        sys.stdout.reconfigure(encoding="utf-8", errors="surrogateescape")
    try:
        code = app(prog_name="infohier", standalone_mode=False)
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk behind stdout is reported here, not at exit
    except ClickException as error:
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "infohier"
        message = " ".join(error.format_message().split())
        if not message:  # no arguments at all: the help was shown
            sys.exit(error.exit_code)
        print(f"error: {message} (see '{command} --help')", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        quiet_stdout()
        sys.exit(141)
    except OSError as error:  # a file no check foresaw (unreadable, say), or a full stdout
        if error.filename is not None:
            print(
                f"error: {one_line(f'{error.filename}: {error.strerror or error}')}",
                file=sys.stderr,
            )
            sys.exit(2)
        if error.errno not in WRITE_ERRNOS:
            raise
        quiet_stdout()  # stdout on a full disk (`> /dev/full`)
        print(f"error: cannot write stdout: {error.strerror}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def quiet_stdout() -> None:
    """After the reader of our stdout went away: send what is left to /dev/null."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())

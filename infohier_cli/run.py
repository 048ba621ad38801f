"""The run folder and its checkpoint: every path a run holds, and one typed, versioned
checkpoint.

`RunDir` is the only place that knows the file names of a run folder (`checkpoint.pt`,
`embeddings.npz`, `skipped.txt`, `train_log.jsonl`, `.lock`, `cache/`); everything else
asks it.
A writer holds `RunDir.lock()` (an exclusive `flock` on `.lock`, released by the kernel
when the process dies, so a killed run never blocks the next one).

`Checkpoint` is what `checkpoint.pt` holds: plain tensors, numbers and strings only, loaded
with `torch.load(weights_only=True)`. A checkpoint from a stranger can therefore not run
code: anything that needs arbitrary unpickling is refused with a UserError (one clear
line), as is a corrupt or foreign file, or a schema version this code does not know.

Schema `infohier-checkpoint/1` (a dict): format, config (TrainConfig JSON), in_channels,
epoch, model (state dict), images (sample ids, dataset order), folder, version (of
infohier), optimiser, riemannian_optimiser, schedule, riemannian_schedule (state dicts).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pickle
import shutil
import struct
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infohier_cli.atomic import atomic_open, atomic_path, lands_inside, written_file
from infohier_cli.config import DAMAGED_SETTINGS, TrainConfig
from infohier_cli.data.discover import IMAGE_SUFFIXES
from infohier_cli.errors import UserError
from infohier_cli.tables import TableWriter

SCHEMA = "infohier-checkpoint"
SCHEMA_VERSION = 1
FORMAT = f"{SCHEMA}/{SCHEMA_VERSION}"
REQUIRED_KEYS = ("format", "config", "in_channels", "epoch", "model", "images")
OPTIMISER_KEYS = ("optimiser", "riemannian_optimiser", "schedule", "riemannian_schedule")


@dataclass(frozen=True)
class RunDir:
    """A run folder and the paths of everything it holds."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def checkpoint(self) -> Path:
        """Model, optimisers, schedules, epoch, config and sample ids (`Checkpoint`)."""
        return self.root / "checkpoint.pt"

    @property
    def embeddings(self) -> Path:
        """Sample ids, latents and ball points of the training samples (`embeddings.npz`)."""
        return self.root / "embeddings.npz"

    @property
    def skipped(self) -> Path:
        """Files that could not be read: `id<TAB>reason` per line."""
        return self.root / "skipped.txt"

    @property
    def log(self) -> Path:
        """One JSON line per epoch."""
        return self.root / "train_log.jsonl"

    @property
    def cache(self) -> Path:
        """The decoded-image cache folder (data/cache.py): the samples of the folders this
        run trained on or embedded, at its image size, memory-mapped. Safe to delete."""
        return self.root / "cache"

    @property
    def lock_file(self) -> Path:
        """Locked (flock) by the one process writing this run."""
        return self.root / ".lock"

    def own_files(self) -> tuple[Path, ...]:
        """The files a run is made of (no output of another command may replace them)."""
        return (self.checkpoint, self.embeddings, self.skipped, self.log, self.lock_file)

    def holds_run(self) -> bool:
        return self.checkpoint.exists()

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder exclusively; UserError at once if another process holds it.

        When the call ends with none of the run's files in the folder (a first train that
        read no image, say), the lock file, the decoded-image cache and the folder itself
        are removed again if this call created them: a failed first run leaves an
        existing folder (the image folder itself, say) as it was. Stray temporary files of
        an interrupted save are removed.
        """
        created = [path for path in (self.cache, self.lock_file, self.root) if not path.exists()]
        try:
            self.create()
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise UserError(f"cannot use run folder {self.root}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise UserError(
                f"{self.root} is in use by another infohier command; wait for it to end "
                "or choose another --run folder"
            ) from None
        try:
            for stray in self.root.glob(".*.tmp"):
                stray.unlink(missing_ok=True)
            yield
        finally:
            if not any(path.exists() for path in self.own_files() if path != self.lock_file):
                self._remove_created(created)
            os.close(fd)

    def _remove_created(self, created: list[Path]) -> None:
        """Remove those of the cache, the lock file and the (then empty) folder that are in
        `created`; what cannot be removed stays."""
        if self.cache in created:
            shutil.rmtree(self.cache, ignore_errors=True)
        with contextlib.suppress(OSError):
            if self.lock_file in created:
                self.lock_file.unlink()
            if self.root in created:
                self.root.rmdir()

    def clear(self) -> None:
        """Remove the run's own files (for --overwrite); other files and `cache/` stay."""
        for path in (self.checkpoint, self.embeddings, self.skipped, self.log):
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                raise UserError(f"--overwrite cannot remove {path}: {error.strerror}") from None

    def write_skipped(self, skipped: Sequence[tuple[str, str]]) -> None:
        """Record the skipped files (path<TAB>reason per line), atomically."""
        write_skipped(self.skipped, skipped)

    def append_log(self, entry: dict[str, Any]) -> None:
        """Add one JSON line to the training log, rewriting it atomically."""
        text = {"encoding": "utf-8", "errors": "surrogateescape"}  # a damaged log kept as is
        previous = self.log.read_text(**text) if self.log.exists() else ""
        if previous and not previous.endswith("\n"):  # a cut-off last line stays its own
            previous += "\n"
        with atomic_open(self.log, "w", **text) as handle:
            handle.write(previous + json.dumps(entry) + "\n")


def landing_run(out: Path | str) -> tuple[RunDir, str] | None:
    """The run folder an output `out` is written into and the name of the file written
    there (links followed: the file an atomic write replaces), or None outside any run
    folder (or for stdout, '-')."""
    if str(out) in ("", "-"):
        return None
    written = written_file(out)
    run = RunDir(written.parent)
    return (run, written.name) if run.holds_run() else None


def refuse_output(
    out: Path | str | None, option: str = "--out", inputs: Sequence[Path | str | None] = ()
) -> None:
    """UserError if the output `out` would replace a file of a run folder (a folder that
    holds a checkpoint: only `train` and `embed` of that run's own images write there) or
    one of the command's own `inputs` (the same file, by any path). A link is judged by the
    file it names, the one an atomic write replaces."""
    if out is None or str(out) in ("", "-"):
        return
    out, landing = Path(out), landing_run(out)
    if landing is not None and any(landing[1] == own.name for own in landing[0].own_files()):
        raise UserError(
            f"{option} {out} would overwrite the run's own {landing[1]}; choose another file"
        )
    for source in inputs:
        if source is not None and out.exists() and Path(source).exists():
            if os.path.samefile(out, source):
                raise UserError(f"{option} {out} is this command's input; choose another file")


def refuse_clashing_outputs(outputs: dict[str, Path | str | None]) -> None:
    """UserError if one of a command's outputs ({option: path}; None or '-' for none or
    stdout) is another, by any path, or lies inside another (a folder output): one would
    replace or fill the other."""
    named = [
        (option, out) for option, out in outputs.items() if out is not None and str(out) != "-"
    ]
    for i, (option, out) in enumerate(named):
        for other, other_out in named[i + 1 :]:
            if written_file(out) == written_file(other_out):
                raise UserError(f"{option} and {other} name the same file {out}")
            for inner, inner_out, outer, outer_out in (
                (option, out, other, other_out),
                (other, other_out, option, out),
            ):
                if lands_inside(inner_out, outer_out):
                    raise UserError(f"{inner} {inner_out} lies inside {outer} {outer_out}")


def refuse_among_images(out: Path | str, image_folder: Path, option: str = "--out") -> None:
    """UserError if the output `out` is named as an image (`IMAGE_SUFFIXES`) anywhere under
    `image_folder`, the command's input: it would replace an image, or join the images."""
    if str(out) == "-" or Path(out).suffix.lower() not in IMAGE_SUFFIXES:
        return
    if lands_inside(out, image_folder):
        raise UserError(
            f"{option} {out} is named as an image inside the image folder {image_folder}; "
            "choose another file"
        )


def write_skipped(path: Path, skipped: Sequence[tuple[str, str]]) -> None:
    """`skipped.txt` at `path`: one `id<TAB>reason` line per unreadable sample (a field
    holding a tab, newline or quote is quoted CSV-style, so any file name survives)."""
    with atomic_open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
        writer = TableWriter(handle, delimiter="\t")
        writer.writerows((name, " ".join(reason.split())) for name, reason in skipped)


@dataclass
class Checkpoint:
    """What a run needs to resume or to embed: the schema in the module docstring."""

    config: TrainConfig
    in_channels: int
    epoch: int
    model: dict[str, Any]
    samples: list[str]
    folder: str = "?"
    version: str = ""
    optimisers: dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "config": self.config.to_json(),
            "in_channels": self.in_channels,
            "epoch": self.epoch,
            "model": self.model,
            "images": list(self.samples),
            "folder": self.folder,
            "version": self.version,
            **self.optimisers,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Checkpoint:
        """The checkpoint of a raw state; UserError if its settings are damaged or hold an
        `auto` that train always resolves before saving (a hand-edited file)."""
        config = TrainConfig.from_json(state["config"])
        unresolved = config.unresolved()
        if unresolved:
            raise UserError(
                f"{DAMAGED_SETTINGS}: {', '.join(unresolved)} left unresolved (train "
                "stores the value it chose)"
            )
        return cls(
            config=config,
            in_channels=int(state["in_channels"]),
            epoch=int(state["epoch"]),
            model=state["model"],
            samples=list(state["images"]),
            folder=str(state.get("folder", "?")),
            version=str(state.get("version", "")),
            optimisers={k: state[k] for k in OPTIMISER_KEYS if k in state},
        )

    def save(self, path: Path) -> None:
        """Write atomically: temp file in the same folder, then rename."""
        import torch

        with atomic_path(path) as tmp:
            torch.save(self.to_state(), tmp)

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        """Read and check a checkpoint (see `load_checkpoint`)."""
        return cls.from_state(load_checkpoint(path))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's raw state, read safely (weights_only=True); UserError if refused,
    corrupt, foreign, or of an unknown schema version."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}")
    return checked_state(read_torch_file(path, "checkpoint"), path)


def is_checkpoint_state(state: Any) -> bool:
    """Whether a loaded object claims to be an infohier checkpoint (any schema version)."""
    found = state.get("format") if isinstance(state, dict) else None
    return isinstance(found, str) and found.startswith(f"{SCHEMA}/")


def read_torch_file(path: Path, what: str) -> Any:
    """Whatever `torch.save` wrote at `path` (a `what`, for the messages), loaded with
    weights_only=True (tensors, numbers, strings and containers only); UserError if refused
    or unreadable."""
    import torch

    try:
        with warnings.catch_warnings():  # a plain pickle file: refused below, not warned about
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # the safe unpickler names the class or function it refused; other failures
        # (an unknown opcode, say) are damaged bytes, not a refused object
        unsafe = [line for line in str(error).splitlines() if "GLOBAL" in line]
        if not unsafe:
            raise UserError(corrupt_file(path, what, error)) from None
        raise UserError(
            f"refused to load {path}: it holds objects a safe load may not create "
            f"({unsafe[0].strip()[:160]})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, struct.error,
            KeyError, IndexError, TypeError, AttributeError) as error:  # fmt: skip
        # (damaged pickle bytes raise from inside the unpickler: a memo KeyError, say)
        raise UserError(corrupt_file(path, what, error)) from None
    return state


def corrupt_file(path: Path, what: str, error: Exception) -> str:
    """The message for a file that is no `torch.save` output of any kind."""
    return f"cannot read {what} {path}: corrupt or not a {what} ({type(error).__name__})"


def checked_state(state: Any, path: Path) -> dict[str, Any]:
    """`state` if it is a checkpoint of the schema this code reads; UserError otherwise."""
    found = state.get("format") if isinstance(state, dict) else None
    if is_checkpoint_state(state) and found != FORMAT:
        raise UserError(
            f"{path} has checkpoint schema {found!r}; this infohier reads "
            f"only {FORMAT!r} (use the infohier version that wrote it)"
        )
    if found != FORMAT or any(key not in state for key in REQUIRED_KEYS):
        raise UserError(f"{path} is not an infohier checkpoint ({FORMAT})")
    return state


def config_of(state: dict[str, Any]) -> TrainConfig:
    """The TrainConfig stored in a raw checkpoint state."""
    return TrainConfig.from_json(state["config"])


def load_model(path: Path):
    """Rebuild the model of a checkpoint in eval mode -> (model, checkpoint)."""
    from infohier_cli.model.network import InfoHierModel

    checkpoint = Checkpoint.load(path)
    model = InfoHierModel(checkpoint.config, checkpoint.in_channels)
    load_weights(model, checkpoint, path)
    return model.eval(), checkpoint


def load_weights(model, checkpoint: Checkpoint, path: Path | str) -> None:
    """Put the checkpoint's weights into `model`; UserError when their shapes do not fit
    the model its settings describe (another width, ball dimension or channel count)."""
    try:
        model.load_state_dict(checkpoint.model)
    except (RuntimeError, KeyError, TypeError, AttributeError):
        config = checkpoint.config
        raise UserError(
            f"checkpoint {path}: its weights do not fit the model its settings describe "
            f"(--width {config.width}, --ball-dim {config.ball_dim}, "
            f"{checkpoint.in_channels} channels); it was altered or written by another version"
        ) from None

"""The picture files `export` writes (`--plot`, `--dendrogram`): the format from the name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from infohier_cli.errors import UserError


def picture_format(option: str, out: Path | str, formats: Sequence[str], default: str) -> str:
    """The format of picture file `out` from its extension (`default` when it has none;
    "" = an extension is needed). UserError for `-` (a picture is a file, not a stream)
    or an extension not in `formats`."""
    if str(out) == "-":
        raise UserError(f"{option} -: a picture is written to a file; give a file name")
    suffix = Path(out).suffix.lstrip(".").lower() or default
    if suffix not in formats:
        shown = f".{suffix}" if suffix else "none"
        raise UserError(
            f"{option} {out}: unknown picture format {shown} "
            f"(use one of {', '.join('.' + f for f in formats)})"
        )
    return suffix

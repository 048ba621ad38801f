"""The picture files `export` writes (`--plot`, `--dendrogram`): the format from the name,
and the plotting library they are drawn with."""

from __future__ import annotations

import logging
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
        problem = f"unknown picture format .{suffix}" if suffix else "the name has no extension"
        raise UserError(
            f"{option} {out}: {problem} (use one of {', '.join('.' + f for f in formats)})"
        )
    return suffix


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend. Imported without matplotlib's log
    notes about its config folder (where HOME cannot be written it uses a temporary one
    and says so on stderr, outside the CLI's messages and `--quiet`)."""
    log = logging.getLogger("matplotlib")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    finally:
        log.setLevel(level)
    return plt

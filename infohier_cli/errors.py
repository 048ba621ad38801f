"""The one exception type for mistakes a user can make (bad path, bad checkpoint, ...), and
the checks of a text input named on the command line.

The CLI turns it into a single line on stderr and exit code 2; library callers catch it.
"""

from pathlib import Path


class UserError(Exception):
    """An error caused by the user's input, reported as one line without a traceback."""


_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in [*range(32), 127]} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def one_line(message: str) -> str:
    """`message` with its control characters escaped (`\\n`, `\\t`, `\\x1b`), so that a
    path holding a newline cannot split the line it is reported on."""
    return message.translate(_CONTROL_ESCAPES)


def require_text_input(path: Path, what: str) -> None:
    """UserError unless `path` can be read once as text: a file, or a pipe (`<(cmd)`, a
    FIFO, /dev/stdin). A missing path or a folder is refused, naming `what` it should be."""
    if not path.exists():
        raise UserError(f"no such {what}: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a {what}")

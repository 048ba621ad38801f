"""The one exception type for mistakes a user can make (bad path, bad checkpoint, ...).

The CLI turns it into a single line on stderr and exit code 2; library callers catch it.
"""


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

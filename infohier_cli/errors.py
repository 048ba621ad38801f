"""The one exception type for mistakes a user can make (bad path, bad checkpoint, ...).

The CLI turns it into a single line on stderr and exit code 2; library callers catch it.
"""


class UserError(Exception):
    """An error caused by the user's input, reported as one line without a traceback."""

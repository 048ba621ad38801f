"""The `infohier` command line: parse, validate, delegate (no maths, no file formats here).

`app` holds the commands (`app.py`); the options of `infohier train` are generated from
`TrainConfig`'s fields (`options.py`).
"""

from infohier_cli.cli.app import app, main

__all__ = ["app", "main"]

"""`python -m infohier_cli` (and `torchrun -m infohier_cli`) runs the CLI; `run` is also the
`infohier` console script. Ctrl-C before a command has taken charge of it (while the modules
load or the command line is being built) ends with one line and exit code 130."""

import sys


def run() -> None:
    try:
        from infohier_cli.cli import main

        main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()

"""`python -m infohier_cli` (and `torchrun -m infohier_cli`) runs the CLI; `run` is also the
`infohier` console script. Ctrl-C while the modules are still loading ends quietly (130)."""

import sys


def run() -> None:
    try:
        from infohier_cli.cli import main
    except KeyboardInterrupt:
        sys.exit(130)
    main()


if __name__ == "__main__":
    run()

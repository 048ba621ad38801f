"""`python -m infohier_cli` (and `torchrun -m infohier_cli`) runs the CLI."""

from infohier_cli.cli import main

main()

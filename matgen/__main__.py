"""`python -m matgen` runs the command line."""

from matgen.cli.main import run

run()

"""The `matgen` command line: a thin typer layer over the library (only this package imports typer/rich)."""

"""The one exception type for bad user input; the CLI prints it as a single red line (exit 2)."""


class MatgenError(Exception):
    """Bad input a user can fix: the message says what is wrong and how to fix it."""

"""The version of matgen (recorded in every file it writes: datasets, run configs, campaigns)."""

__version__ = "0.1.0"

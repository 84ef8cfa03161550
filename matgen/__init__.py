"""matgen: materials inverse design with conditional generative models.

The command line (`matgen ...`) is a thin layer over this library; scripts can call the same
functions directly, e.g. ``matgen.data.read("raman.h5")``. Importing :mod:`matgen` is cheap: no
torch, numpy or h5py is loaded until a submodule that needs it is used.
"""

from matgen.errors import MatgenError
from matgen.version import __version__

__all__ = ["Campaign", "MatgenError", "__version__"]


def __getattr__(name: str):
    """``matgen.Campaign`` imports the campaign package (and numpy, torch) only when first used."""
    if name == "Campaign":
        from matgen.campaign import Campaign

        return Campaign
    raise AttributeError(f"module 'matgen' has no attribute {name!r}")

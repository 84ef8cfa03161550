"""matgen: materials inverse design with conditional generative models.

The command line (`matgen ...`) is a thin layer over this library; scripts can call the same
functions directly, e.g. ``matgen.data.read("raman.h5")``. Importing :mod:`matgen` is cheap: no
torch, numpy or h5py is loaded until a submodule that needs it is used.
"""

__version__ = "0.1.0"

from matgen.errors import MatgenError

__all__ = ["MatgenError", "__version__"]

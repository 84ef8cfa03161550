"""The matgen dataset: an HDF5 file of N signals with their axis and conditions (docs/format.md).

    >>> from matgen import data
    >>> ds = data.read("raman.h5")            # Dataset: ds.signals (N, L), ds.axis, ds.conditions
    >>> data.write("copy.h5", ds.take(range(10)))

Importers for lab files live in :mod:`matgen.data.importers`.
"""

from matgen.data.dataset import (
    IMAGE_KINDS, KIND_AXES, KINDS, ROLES, SPECTRUM_KINDS, Axis, Condition, Dataset, concat, validate,
)
from matgen.data.hdf5 import FORMAT_VERSION, append, read, write

__all__ = [
    "IMAGE_KINDS", "KIND_AXES", "KINDS", "ROLES", "SPECTRUM_KINDS", "Axis", "Condition", "Dataset",
    "concat", "validate", "FORMAT_VERSION", "append", "read", "write",
]

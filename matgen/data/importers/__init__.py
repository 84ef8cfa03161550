"""Importers: lab files (spectra, micrographs, crystal structures) -> matgen datasets.

Spectrum readers are a registry keyed by file extension (:data:`SPECTRUM_READERS`), one module
per format; each returns a list of :class:`~matgen.data.importers.records.SpectrumRecord`. Third-party
packages add readers through the ``matgen.importers`` entry-point group
(``".ext" = "package.module:read_function"``).
"""

from matgen.data.importers.common import ConditionSource, ImportResult
from matgen.data.importers.images import IMAGE_EXTENSIONS, import_images
from matgen.data.importers.spectra import SPECTRUM_READERS, import_spectra, spectrum_readers
from matgen.data.importers.structures import STRUCTURE_EXTENSIONS, read_structures, write_structures

__all__ = [
    "ConditionSource", "ImportResult", "IMAGE_EXTENSIONS", "import_images",
    "SPECTRUM_READERS", "import_spectra", "spectrum_readers", "STRUCTURE_EXTENSIONS", "read_structures",
    "write_structures",
]

"""Physics forward models and their analyses, one module per piece of physics.

* microstructures: :mod:`~matgen.physics.spinodal` (Cahn–Hilliard), :mod:`~matgen.physics.particles`
  (particulate composites), :mod:`~matgen.physics.morphology` (phase fraction, S₂, length scale of both);
* properties: :mod:`~matgen.physics.elastic` (FFT homogenization) with the phases of
  :mod:`~matgen.physics.phases`;
* spectra: :mod:`~matgen.physics.xrd` with :mod:`~matgen.physics.references`, the packages
  :mod:`~matgen.physics.raman` and :mod:`~matgen.physics.eels` (table, forward model, analysis);
* shared: :mod:`~matgen.physics.batching` (per-sample parameters), :mod:`~matgen.physics.noise`
  (the Poisson draw of counting noise).
"""

"""Physics forward models: microstructure generators, elastic homogenization, spectra."""

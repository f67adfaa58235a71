"""Pricing experiments, in plain Python: the lifecycle, deterministic assignment of units
to variants, and the statistics of results (SciPy and NumPy do the distributions)."""

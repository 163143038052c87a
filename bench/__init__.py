"""Benchmarks with side-by-side ratios (DESIGN 3: `bench/`). Not part of the service."""

"""Benchmarks and studies of invtools, run from the repository root as modules
(``python -m benchmarks.speed.eit``)."""

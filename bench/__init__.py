"""Benchmarks: the archive operator against the simulator, with the SDK and a plain loop as baselines."""

"""gpugrad's benchmarks (pytest-benchmark suites; see README "Benchmarks")."""

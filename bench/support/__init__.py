"""Shared pieces of the benchmarks (not benchmarks themselves: `bench/run_all` runs only
`bench/*.py`)."""

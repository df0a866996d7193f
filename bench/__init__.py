"""Benchmarks for pkgharvest: `python -m bench.run` (fetch) and `bench/bench_read.py` (reading)."""

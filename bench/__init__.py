"""Benchmarks that print tables: latency, throughput, memory; not timed unit tests."""

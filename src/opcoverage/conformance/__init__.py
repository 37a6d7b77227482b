"""Conformance suite for pytest: `pytest --pyargs opcoverage.conformance --opcov-targets torch:cpu`."""

"""References: float64 NumPy/SciPy implementations for ops that have no single NumPy function."""

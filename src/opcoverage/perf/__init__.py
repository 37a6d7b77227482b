"""Perf stage: timing methodology, cost model, perf shapes and the measured roofline of each target."""

from opcoverage.perf.measure import PerfConfig, config_for, measure_case
from opcoverage.perf.shapes import llc_bytes
from opcoverage.perf.timing import Timing, measure

__all__ = ["PerfConfig", "Timing", "config_for", "llc_bytes", "measure", "measure_case"]

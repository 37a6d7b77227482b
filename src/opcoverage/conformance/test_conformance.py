"""Conformance test items: one per case, with ids such as add-torch:cpu-float16-s0 (planned by the plugin)."""

import pytest

from opcoverage.report.markdown import reproduce_command
from opcoverage.types import Status


def test_case(opcov_case, opcov_run):
    result, expectation, env = opcov_run(opcov_case)
    if result.status is Status.SKIPPED:
        pytest.skip(result.message)
    if not result.status.is_failure:
        return
    if expectation is not None:
        pytest.xfail(f"{expectation.reason} {expectation.link}".strip())
    errors = ""
    if result.max_abs_err is not None and result.status is Status.MISMATCH:
        errors = f"\nmax abs err {result.max_abs_err:.3g}, max rel err {result.max_rel_err:.3g}"
    pytest.fail(f"{result.status.value}: {result.message}\nsample {result.sample_desc}{errors}\n"
                f"reproduce: {reproduce_command(result, env)}", pytrace=False)

"""The pytest form: the same cases as test items with stable ids, the same results file, and expected failures."""

from __future__ import annotations

import json

from tests.test_cli import TWO_OPS


def test_conformance_items_ids_results_file_and_xfail(pytester, spec_dir, tmp_path):
    specs = str(spec_dir("ops.toml", TWO_OPS))
    expect = tmp_path / "expect"
    expect.mkdir()
    (expect / "torch-cpu.toml").write_text(
        '[[expected]]\nop = "relu"\nreason = "wrong reference on purpose"\nlink = "https://example.org/1"\n'
        '[[expected]]\nop = "add"\ndtypes = ["int32"]\nreason = "stale on purpose"\n')
    out = tmp_path / "out.json"
    result = pytester.runpytest_subprocess(
        "--pyargs", "opcoverage.conformance", "--opcov-targets", "torch:cpu", "--opcov-specs", specs,
        "--opcov-json", str(out), "--opcov-expect", str(expect), "-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "*test_case?add-torch:cpu-float32-s0? PASSED*",
        "*test_case?relu-torch:cpu-float32-s0? XFAIL*",
        "*STALE expectation: torch:cpu add int32 now passes*",
    ])
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 4 and outcomes["xfailed"] == 6
    assert result.ret == 0
    data = json.loads(out.read_text())
    assert len(data["results"]) == 10
    assert {r["status"] for r in data["results"]} == {"pass", "mismatch"}


def test_unexpected_failure_fails_with_reproducer(pytester, spec_dir):
    specs = str(spec_dir("ops.toml", TWO_OPS))
    result = pytester.runpytest_subprocess(
        "--pyargs", "opcoverage.conformance", "--opcov-targets", "torch:cpu", "--opcov-specs", specs,
        "--opcov-ops", "relu", "--opcov-dtypes", "float32", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*mismatch: * values differ*",
                                 "*reproduce: opcoverage run --targets torch:cpu --ops relu --dtypes float32*"])


def test_bad_option_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--pyargs", "opcoverage.conformance", "--opcov-targets", "torch:cuda",
                                           "-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: opcoverage: target 'torch:cuda' is not available here*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_modes_are_items_too(pytester, spec_dir):
    """--opcov-modes adds each mode's cases as items, with the mode in their ids; forward ids stay as they were."""
    specs = str(spec_dir("ops.toml", TWO_OPS))
    result = pytester.runpytest_subprocess(
        "--pyargs", "opcoverage.conformance", "--opcov-targets", "torch:cpu", "--opcov-specs", specs,
        "--opcov-ops", "add", "--opcov-dtypes", "float32", "--opcov-modes", "forward,grad", "-v",
        "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_case?add-torch:cpu-float32-s0? PASSED*",
                                 "*test_case?add-torch:cpu/grad-float32-s0? PASSED*"])
    assert result.ret == 0

"""The onnx-node suite: onnx's backend node tests enumerated, run through the CLI and pytest, judged by onnx's rules.

The first test to load the suite on a machine builds its cache (onnx 1.23 generates the tests on import,
about 20 s); every later load reads the cache.
"""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest

from opcoverage.cli import main
from opcoverage.report.markdown import reproduce_command
from opcoverage.suites import get_suite
from opcoverage.suites.onnx_data import cache_root
from opcoverage.suites.onnx_node import compare_outputs
from opcoverage.types import Status, Target

pytest.importorskip("onnxruntime")

CPU = Target("onnxruntime", "cpu")
CACHE = cache_root()


@pytest.fixture(scope="module")
def suite():
    return get_suite("onnx-node")


def test_enumeration_finds_the_node_tests_with_their_op_types(suite):
    assert len(suite.tests) > 1500
    add = suite.tests["test_add_bcast"]
    assert (add["op_type"], add["dtype"], add["inputs"]) == ("Add", "float32", ["float32[3,4,5]", "float32[5]"])
    assert (add["rtol"], add["atol"]) == (1e-3, 1e-7)
    expanded = suite.tests["test_softmax_axis_0_expanded"]  # a function body: it still tests Softmax
    assert expanded["op_type"] == "Softmax" and "ReduceMax" in expanded["op_types"]
    assert suite.tests["test_cast_FLOAT_to_BFLOAT16"]["dtype"] == "float32"
    assert {t["dtype"] for t in suite.tests.values()} >= {"float16", "bfloat16", "string", "int4", "float8_e4m3fn"}


def test_ops_filter_takes_test_names_op_types_and_globs(suite):
    assert suite.select(["test_add"]) == ["test_add"]
    assert set(suite.select(["Relu"])) == {n for n in suite.tests if n.startswith("test_relu")}
    assert "test_add_bcast" in suite.select(["test_add*"])
    cases = suite.plan([CPU], ["test_add"], [], [])
    assert [c.id for c in cases] == ["test_add-onnxruntime:cpu-float32-s0"] and cases[0].suite == "onnx-node"


def test_cases_run_through_the_cli_into_results_and_report(tmp_path, capsys):
    out, report = tmp_path / "suite.json", tmp_path / "suite.md"
    code = main(["run", "--suite", "onnx-node", "--targets", "onnxruntime:cpu", "--ops", "test_add,test_relu,test_abs",
                 "--out", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    records = {r["op"]: r for r in data["results"]}
    assert set(records) == {"test_add", "test_relu", "test_abs"}
    assert all(r["status"] == "pass" for r in records.values()), records
    assert records["test_add"]["extra"] == {"suite": "onnx-node", "op_type": "Add"}
    assert records["test_add"]["dispatched"] == ["Add"]
    assert data["environment"]["suite"] == "onnx-node"
    assert data["environment"]["categories"]["test_relu"] == "onnx-node"
    assert main(["report", str(out), "--out", str(report)]) == 0
    index = report.read_text()  # the index rolls the suite's tests up by the op type they test
    assert "onnx-node op types</b>: " in index and "| `Add` | ✅ |" in index
    assert "test_add" in (tmp_path / "suite-onnxruntime-cpu.md").read_text()


@pytest.mark.parametrize("test", ["test_cast_FLOAT_to_BFLOAT16", "test_cast_FLOAT_to_FLOAT8E4M3FN",
                                  "test_cast_FLOAT_to_INT4", "test_sequence_insert_at_back",
                                  "test_string_concat"])
def test_types_numpy_lacks_sequences_and_strings_reach_the_backend(suite, test):
    (case,) = suite.plan([CPU], [test], [], [])
    result = suite.run(case)
    assert result.status is Status.PASS, result.message


def test_a_missing_kernel_is_unsupported_with_its_message(suite):
    (case,) = suite.plan([CPU], ["test_adagrad"], [], [])  # a preview-domain training op ORT does not register
    result = suite.run(case)
    assert result.status in (Status.UNSUPPORTED, Status.ERROR) and "Adagrad" in result.message


def test_default_targets_are_those_that_consume_onnx():
    from opcoverage.execute.session import RunSession
    from opcoverage.options import RunConfig

    from opcoverage.backends import get_backend

    session = RunSession(RunConfig(suite="onnx-node", ops=["test_add"]))
    assert Target("onnxruntime", "cpu") in session.targets
    assert all(get_backend(t.framework).binding == "onnx" for t in session.targets)
    assert session.frameworks == ("onnx",)  # workers preload onnx only, not torch or jax


def test_bad_suite_target_or_op_is_exit_2(capsys):
    assert main(["run", "--suite", "onnx-nodes", "--targets", "onnxruntime:cpu"]) == 2
    assert "unknown suite 'onnx-nodes' in --suite; known suites: onnx-node" in capsys.readouterr().err
    assert main(["run", "--suite", "onnx-node", "--targets", "torch:cpu", "--ops", "test_add"]) == 2
    assert "torch:cpu cannot run" in capsys.readouterr().err
    assert main(["run", "--suite", "onnx-node", "--targets", "onnxruntime:cpu", "--ops", "test_no_such"]) == 2
    assert "--ops test_no_such is neither a test name nor an op type" in capsys.readouterr().err


def test_pytest_items_from_the_suite(pytester, monkeypatch):
    monkeypatch.setenv("OPCOV_CACHE_DIR", str(CACHE))  # pytester moves HOME, and with it the default cache
    result = pytester.runpytest_subprocess(
        "--pyargs", "opcoverage.conformance", "--opcov-suite", "onnx-node", "--opcov-targets", "onnxruntime:cpu",
        "--opcov-ops", "test_add_bcast", "-v", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*test_case?test_add_bcast-onnxruntime:cpu-float32-s0? PASSED*"])
    assert result.ret == 0


def test_reproducer_names_the_suite():
    from opcoverage.types import CaseResult

    result = CaseResult("test_add", "onnxruntime:cpu", "float32", "s0", Status.MISMATCH)
    assert reproduce_command(result, {"seed": 0, "suite": "onnx-node"}).endswith("--suite onnx-node")


# onnx's assert_similar_outputs, as verdicts
def test_comparison_follows_onnx_rules():
    x = np.array([1.0, np.nan, np.inf], np.float32)
    assert compare_outputs([x], [x.copy()], 1e-3, 1e-7).status is Status.PASS  # NaN equals NaN
    off = compare_outputs([x], [np.array([1.01, np.nan, np.inf], np.float32)], 1e-3, 1e-7)
    assert off.status is Status.MISMATCH and "1 of 3 values differ" in off.message
    assert "dtype float64, expected float32" in compare_outputs([x], [x.astype(np.float64)], 1e-3, 1e-7).message
    assert "shape [1, 3]" in compare_outputs([x], [x[None]], 1e-3, 1e-7).message
    assert "returned 2 output(s), expected 1" in compare_outputs([x], [x, x], 1e-3, 1e-7).message


def test_comparison_of_bfloat16_sequences_optionals_and_strings():
    bf = np.array([1.0, 2.0], ml_dtypes.bfloat16)
    near = np.array([1.0078125, 2.0], ml_dtypes.bfloat16)  # one bfloat16 ulp: within onnx's rtol of 2**-6
    assert compare_outputs([bf], [near], 1e-3, 1e-7).status is Status.PASS
    seq = [np.zeros(2, np.float32), np.ones(3, np.float32)]
    assert compare_outputs([seq], [list(seq)], 1e-3, 1e-7).status is Status.PASS
    assert "a sequence of 1, expected 2" in compare_outputs([seq], [seq[:1]], 1e-3, 1e-7).message
    assert compare_outputs([None], [None], 1e-3, 1e-7).status is Status.PASS
    assert compare_outputs([None], [seq[0]], 1e-3, 1e-7).status is Status.MISMATCH
    words = np.array(["a", "b"], dtype=object)
    assert compare_outputs([words], [np.array(["a", "c"], dtype=object)], 1e-3, 1e-7).status is Status.MISMATCH

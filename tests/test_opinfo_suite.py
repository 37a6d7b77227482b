"""The opinfo suite: torch's OpInfos planned as cases, judged by their oracles, error parity, out= and in-place
variants, OpInfo's decorators shown, and OpInfo's dtype claims in the audit; a few OpInfos only."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("expecttest")  # torch.testing._internal imports it

from opcoverage.cli import main  # noqa: E402
from opcoverage.suites import get_suite  # noqa: E402
from opcoverage.types import CaseResult, Status, Target  # noqa: E402

CPU = Target("torch", "cpu")


@pytest.fixture(scope="module")
def suite():
    suite = get_suite("opinfo")
    suite.configure(seed=0, samples="quick")
    return suite


@pytest.fixture
def torch_faults(tmp_path, monkeypatch):
    """torch CPU devices with one injected fault each (tests/fault/torch_devices.py), through a real entry point."""
    from tests.fault.torch_devices import install

    yield from install(tmp_path, monkeypatch)


def by_id(suite, targets, ops, dtypes=()):
    return {c.id: suite.run(c) for c in suite.plan(targets, ops, list(dtypes), [])}


def test_every_opinfo_and_variant_is_planned_by_full_name(suite):
    from torch.testing._internal.common_methods_invocations import op_db

    assert set(suite.tests) == {op.full_name for op in op_db}
    assert {"max.binary", "max.reduction_with_dim"} <= set(suite.select(["max"]))
    ids = {c.id for c in suite.plan([CPU], ["abs", "roll"], [], [])}
    assert {"abs-torch:cpu-float16-samples", "abs-torch:cpu-float16-out", "abs-torch:cpu-float16-inplace",
            "roll-torch:cpu-any-errors"} <= ids
    assert not any(i.startswith("roll-") and i.endswith("-inplace") for i in ids)  # roll has no in-place variant
    cases = suite.plan([CPU], ["abs"], ["bfloat16"], [])
    assert {c.sample for c in cases} == {"samples", "out", "inplace"} and all(c.suite == "opinfo" for c in cases)


def test_bad_filters_are_usage_errors(suite):
    from opcoverage.errors import UsageError

    with pytest.raises(UsageError, match="names no OpInfo"):
        suite.select(["no_such_op"])
    with pytest.raises(UsageError, match="no OpInfo has dtype"):
        suite.plan([CPU], ["abs"], ["float7"], [])
    with pytest.raises(UsageError, match="cannot run"):
        suite.plan([Target("onnxruntime", "cpu")], ["abs"], [], [])


def test_oracles_in_order_and_named_on_the_record(suite):
    results = by_id(suite, [CPU], ["abs", "fliplr"], ["float16", "int32"])
    assert results["abs-torch:cpu-float16-samples"].extra["oracle"] == "ref"  # abs has a NumPy ref
    assert results["fliplr-torch:cpu-float16-samples"].extra["oracle"] == "cpu-float64"  # no ref: CPU float64
    assert results["fliplr-torch:cpu-int32-samples"].extra["oracle"] == "cpu-same-dtype"  # no float64 form
    assert all(r.status is Status.PASS for r in results.values()), {i: r.message for i, r in results.items()}
    assert results["abs-torch:cpu-int32-out"].extra["samples"] >= 1


def test_error_parity_and_variants_catch_faults_there_and_nowhere_else(suite, torch_faults):
    """A device that returns zeros instead of raising for one error input is mismatch on that case only."""
    noraise, noalias = Target("torchfault", "noraise"), Target("torchfault", "noalias")
    results = by_id(suite, [CPU, noraise, noalias], ["roll", "abs"], ["float32", "any"])
    failing = {i: r for i, r in results.items() if r.status is not Status.PASS}
    assert set(failing) == {"roll-torchfault:noraise-any-errors", "abs-torchfault:noalias-float32-out"}, \
        {i: r.message for i, r in failing.items()}
    swallowed = failing["roll-torchfault:noraise-any-errors"]
    assert swallowed.status is Status.MISMATCH and "no error raised" in swallowed.message
    assert swallowed.extra["failing_samples"] == [1] and swallowed.extra["samples"] == 4
    assert "did not return the out tensor" in failing["abs-torchfault:noalias-float32-out"].message
    assert results["roll-torch:cpu-any-errors"].status is Status.PASS


def test_opinfo_decorators_are_shown_never_applied(suite):
    from opcoverage.suites.opinfo import decorators, op_db

    shown, _ = decorators(op_db()["nn.functional.embedding"], "samples", "cpu", None)
    assert any(s.startswith("TestCommon.test_compare_cpu: skip") for s in shown), shown
    result = by_id(suite, [CPU], ["nn.functional.embedding"], ["float32"])["nn.functional.embedding-torch:cpu-float32-samples"]
    assert result.status is Status.PASS and result.extra["opinfo_decorators"]  # shown, and still run and judged


def test_run_report_and_audit_through_the_cli(tmp_path):
    out, report = tmp_path / "opinfo.json", tmp_path / "opinfo.md"
    assert main(["run", "--suite", "opinfo", "--targets", "torch:cpu", "--ops", "fliplr", "--dtypes", "float32,any",
                 "-j", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    statuses = {r["sample"]: r["status"] for r in data["results"]}
    assert statuses == {"samples": "pass", "errors": "pass"}
    assert data["environment"]["suite"] == "opinfo" and data["environment"]["categories"]["fliplr"] == "opinfo"
    assert main(["report", str(out), "--audit", "--out", str(report)]) == 0
    index, page = report.read_text(), (tmp_path / "opinfo-torch-cpu.md").read_text()
    assert "<b>opinfo</b>: 1 ops" in index and "torch:cpu (OpInfo)" in page


def test_opinfo_claims_are_per_dtype_and_say_when_they_under_claim():
    from opcoverage.claims import CaseSource
    from opcoverage.claims.opinfo import OpInfoClaims

    claims = OpInfoClaims(CPU, CaseSource({}))
    record = lambda op, dtype, **extra: CaseResult(op, "torch:cpu", dtype, "s0", Status.PASS, extra=extra)  # noqa: E731
    assert claims.claims_for(record("add", "float32")).claimed is True
    unclaimed = claims.claims_for(record("cumsum", "bool"))  # torch runs it; OpInfo does not list bool
    assert unclaimed.claimed is False and unclaimed.cause == "OpInfo under-claims the dtype"
    assert claims.claims_for(record("linalg_vander", "int32")).claimed is True  # linalg_ -> linalg.vander
    assert claims.claims_for(record("max.binary", "float16", suite="opinfo")).claimed is True
    assert claims.claims_for(record("no_such_op", "float32")).claimed is None
    assert claims.claims_for(record("roll", "any", suite="opinfo")).claimed is None

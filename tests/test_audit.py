"""The claims-versus-measured audit on real CPU runs: each registry's claim, the cell verdicts, the report and CLI."""

from __future__ import annotations

import textwrap

import pytest

from opcoverage.claims import CaseSource, Claim, provider_for
from opcoverage.claims.audit import Verdict, audit, case_verdict
from opcoverage.claims.onnxruntime import INT_MAX, version_admits
from opcoverage.cli import main
from opcoverage.execute.session import RunSession
from opcoverage.options import RunConfig
from opcoverage.report.audit import render
from opcoverage.results import ResultsFile, write
from opcoverage.types import CaseResult, Status, Target
from tests.conftest import CPU_TARGETS

SPECS = """
[add]
category = "elementwise_binary"
samples = "binary"
dtypes = ["float32", "float16", "bfloat16", "int16"]
reference = "numpy.add"
torch = "torch.add"
jax = "jax.numpy.add"
onnx = { op_type = "Add" }

[relu]
category = "activation"
samples = "unary"
dtypes = ["float32", "bfloat16", "int16"]
reference = "opcoverage.catalog.references.activation.relu"
torch = "torch.relu"
jax = "jax.nn.relu"
onnx = { op_type = "Relu" }

[gelu]
category = "activation"
samples = "unary"
dtypes = ["float32", "int16"]
reference = "opcoverage.catalog.references.activation.gelu"
torch = "torch.nn.functional.gelu"
"""
# gelu int16 on torch:cpu: aten::gelu has a CPU kernel, whose dtype switch has no Short: claimed, and fails.
# add float16 on onnxruntime:cpu: no float16 Add CPU kernel is registered, yet it runs (computed in float32).


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> ResultsFile:
    folder = tmp_path_factory.mktemp("specs")
    (folder / "ops.toml").write_text(textwrap.dedent(SPECS), encoding="utf-8")
    session = RunSession(RunConfig(targets=list(CPU_TARGETS), specs=[str(folder)]))
    return session.results_file([session.run_one(case) for case in session.cases])


@pytest.fixture(scope="module")
def cells(results):
    found = audit(results)
    return found, {(c.target, c.op, c.dtype): c for c in found.cells}


def test_onnxruntime_claims_follow_the_kernel_registry(cells):
    _, by_key = cells
    bf16 = by_key[("onnxruntime:cpu", "add", "bfloat16")]
    assert bf16.verdict is Verdict.UNCLAIMED_FAILS
    assert all(c.record.status is Status.UNSUPPORTED for c in bf16.cases)
    assert "T=bfloat16" in bf16.deciding.claim.detail and "float" in bf16.deciding.claim.detail
    f32 = by_key[("onnxruntime:cpu", "add", "float32")]
    assert f32.verdict is Verdict.CLAIMED_PASSES and "T=float" in f32.deciding.claim.detail
    # Relu's CPU kernels cover float, double, int8 and int32 only: int16 is neither claimed nor runs.
    assert by_key[("onnxruntime:cpu", "relu", "int16")].verdict is Verdict.UNCLAIMED_FAILS


def test_onnxruntime_float16_runs_unclaimed_and_the_audit_says_how(cells):
    _, by_key = cells
    f16 = by_key[("onnxruntime:cpu", "add", "float16")]
    assert f16.verdict is Verdict.UNCLAIMED_PASSES
    assert "no CPUExecutionProvider kernel for Add-14 with T=float16" in f16.deciding.claim.detail
    # read from the graph onnxruntime optimized: Cast, Cast, Add, Cast
    assert "ran Cast, Cast, Add, Cast" in f16.explanation and "InsertCastTransformer" in f16.explanation
    assert f16.cause == "float16 computed in float32 (InsertCastTransformer)"


def test_torch_claim_is_per_op_so_a_missing_dtype_is_a_disagreement(cells):
    _, by_key = cells
    gelu = by_key[("torch:cpu", "gelu", "int16")]
    assert gelu.verdict is Verdict.CLAIMED_FAILS
    assert all("aten::gelu" in c.record.dispatched for c in gelu.cases)  # a failing case records what it reached
    assert "aten::gelu" in gelu.deciding.claim.detail
    assert "not implemented for 'Short'" in gelu.explanation and "not per dtype" in gelu.explanation
    assert gelu.cause == "dtype missing from an implementation claimed per op"
    add = by_key[("torch:cpu", "add", "bfloat16")]
    assert add.verdict is Verdict.CLAIMED_PASSES and "CPU: aten::add.Tensor" in add.deciding.claim.detail


def test_jax_claims_come_from_the_lowering_rules(cells, results):
    found, by_key = cells
    assert all(c.verdict is Verdict.CLAIMED_PASSES for c in found.cells if c.target == "jax:cpu")
    assert "generic rule: add" in by_key[("jax:cpu", "add", "int16")].deciding.claim.detail
    assert found.per_dtype == {"jax:cpu": False, "onnxruntime:cpu": True, "torch:cpu": False,
                               "torch:cpu (OpInfo)": True}  # OpInfo dtype claims: a second view of torch:cpu
    # gelu has no jax binding here: its cases are skipped, counted, and not audited
    gelu_cases = [r for r in results.results if r.target == "jax:cpu" and r.op == "gelu"]
    assert gelu_cases and found.skipped["jax:cpu"] == len(gelu_cases)
    assert not any(c.op == "gelu" for c in found.cells if c.target == "jax:cpu")


def test_report_lists_disagreements_first(cells, results):
    found, _ = cells
    text = render(found, ["r.json"], results.environment)
    disagreements, agreements = text.index("## Disagreements"), text.index("## Agreements")
    assert text.index("## Summary") < disagreements < agreements
    unknown = text.find("## Claim unknown", disagreements)  # cells no registry has a claim for come next
    section = text[disagreements:unknown if unknown > 0 else agreements]
    rows = [[c.strip() for c in line.split("|")[1:4]] for line in section.splitlines() if line.startswith("| `")]
    assert rows == [["`add`", "f16", "passes-but-unclaimed"], ["`gelu`", "i16", "claimed-but-fails"]]
    assert "opcoverage run --targets torch:cpu --ops gelu --dtypes int16" in text[disagreements:agreements]
    assert found.counts("torch:cpu")[Verdict.CLAIMED_FAILS] == 1
    assert found.counts("onnxruntime:cpu")[Verdict.UNCLAIMED_PASSES] == 1


def test_audit_command_and_report_section(results, tmp_path, capsys):
    path = tmp_path / "r.json"
    write(path, results)
    out = tmp_path / "audit.md"
    assert main(["audit", str(path), "--out", str(out)]) == 0
    assert out.read_text().startswith("# Claims versus measured")
    report = tmp_path / "report.md"
    assert main(["report", str(path), "--audit", "--out", str(report)]) == 0
    body = (tmp_path / "report-torch-cpu.md").read_text()  # each target's page holds its part of the audit
    assert "## Claims versus measured" in body and "### Disagreements" in body
    assert "## Claims versus measured" not in report.read_text()
    assert main(["audit", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_claim_unknown_is_explicit(results):
    cases = CaseSource(results.environment)
    stray = CaseResult("no_such_op", "torch:cpu", "float32", "s0", Status.ERROR, "boom")
    claim = provider_for(Target("torch", "cpu"), cases).claims_for(stray)
    assert claim.claimed is None and "not in the catalog" in claim.detail
    other = provider_for(Target("mychip", "npu"), cases).claims_for(stray)
    assert other.claimed is None and "no claims provider" in other.detail
    assert case_verdict(None, True) is Verdict.UNKNOWN and case_verdict(False, True) is Verdict.UNCLAIMED_PASSES
    assert Claim(True, "x").hint == ""


def test_kernel_version_rule_matches_onnxruntime():
    assert version_admits(14, INT_MAX, 14)          # Add-14 kernel for an Add-14 node
    assert not version_admits(7, INT_MAX, 14)       # an open-ended older kernel does not take a newer schema
    assert version_admits(7, 14, 13) and not version_admits(15, INT_MAX, 14)

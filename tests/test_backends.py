"""Backends on the real CPU frameworks: targets, outputs, dispatched ops, classification, and third-party backends."""

from __future__ import annotations

import pytest

from opcoverage.backends import all_targets, resolve_targets
from opcoverage.catalog.loader import load_catalog
from opcoverage.errors import UsageError
from opcoverage.execute.runner import plan_cases, run_case
from opcoverage.types import Status, Target
from tests.conftest import ADD_SPEC, CPU_TARGETS


def _run(catalog, targets, **kw):
    return {r.id: r for r in (run_case(catalog, c) for c in plan_cases(catalog, resolve_targets(targets), **kw))}


def test_cpu_targets_are_listed_as_available():
    available = {str(t) for t, info in all_targets() if info.available}
    assert set(CPU_TARGETS) <= available
    unavailable = {str(t): info.reason for t, info in all_targets() if not info.available}
    assert "torch:cuda" in unavailable and unavailable["torch:cuda"]


def test_add_passes_on_every_cpu_target_and_records_dispatched_ops(spec_dir):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC)])
    results = _run(catalog, CPU_TARGETS)
    assert results and all(r.status is Status.PASS for r in results.values()), results
    assert "aten::add.Tensor" in results["add-torch:cpu-float32-s0"].dispatched
    assert results["add-onnxruntime:cpu-float32-s0"].dispatched == ("Add",)
    assert "add" in results["add-jax:cpu-float32-s0"].dispatched


def test_missing_kernel_is_unsupported_not_error(spec_dir):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC.replace('["float32", "int32"]', '["bfloat16"]'))])
    result = _run(catalog, ["onnxruntime:cpu"])["add-onnxruntime:cpu-bfloat16-s0"]
    assert result.status is Status.UNSUPPORTED
    assert "NOT_IMPLEMENTED" in result.message


def test_type_outside_the_onnx_schema_is_skipped_with_reason(spec_dir):
    text = ADD_SPEC.replace('["float32", "int32"]', '["bool"]')
    catalog = load_catalog([spec_dir("a.toml", text)])
    result = _run(catalog, ["onnxruntime:cpu"])["add-onnxruntime:cpu-bool-s0"]
    assert result.status is Status.SKIPPED and "not defined by onnx" in result.message


def test_op_without_a_binding_is_skipped(spec_dir):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC.replace('jax = "jax.numpy.add"\n', ""))])
    result = _run(catalog, ["jax:cpu"])["add-jax:cpu-float32-s0"]
    assert result.status is Status.SKIPPED and "no jax binding" in result.message


def test_device_spellings_and_unknown_targets():
    assert resolve_targets(["onnxruntime:CPUExecutionProvider"]) == [Target("onnxruntime", "cpu")]
    with pytest.raises(UsageError, match="available targets: .*torch:cpu"):
        resolve_targets(["torch:cuda"])
    with pytest.raises(UsageError, match="unknown framework 'tensorflow'"):
        resolve_targets(["tensorflow:cpu"])
    with pytest.raises(UsageError, match="framework:device"):
        resolve_targets(["torch"])


@pytest.mark.parametrize("device, status, fragment", [
    ("ok", Status.PASS, ""),
    ("wrong", Status.MISMATCH, "values differ"),
    ("nan", Status.MISMATCH, "values differ"),
    ("shape", Status.MISMATCH, "shape"),
    ("dtype", Status.MISMATCH, "dtype"),
    ("unsupported", Status.UNSUPPORTED, "no kernel"),
    ("error", Status.ERROR, "injected failure"),
    ("fallback", Status.FALLBACK, "ran on the host CPU"),
])
def test_third_party_backend_from_entry_point_and_fault_classification(fault_backend, spec_dir, device, status,
                                                                       fragment):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC)])
    result = _run(catalog, [f"fault:{device}"], dtypes=["float32"])[f"add-fault:{device}-float32-s0"]
    assert result.status is status, result.message
    assert fragment in result.message
    if status is Status.MISMATCH and device == "wrong":
        assert result.max_abs_err == pytest.approx(1.0)


def test_unavailable_third_party_target_says_why(fault_backend):
    with pytest.raises(UsageError, match="no such fault device here"):
        resolve_targets(["fault:missing"])

"""openvino:cpu on real single-node models: passes, a float64/int64 downcast that is not a pass, Det unsupported at
the convert stage, bfloat16 through ov.Tensor, and query_model claims in the audit."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("openvino") is None:
    pytest.skip("openvino is not installed (pip install 'opcoverage[openvino]')", allow_module_level=True)

from opcoverage.backends import get_backend, resolve_targets  # noqa: E402
from opcoverage.catalog.loader import load_catalog  # noqa: E402
from opcoverage.claims import CaseSource  # noqa: E402
from opcoverage.claims.openvino import OpenVinoClaims  # noqa: E402
from opcoverage.compare import compare  # noqa: E402
from opcoverage.execute.runner import plan_cases, run_case  # noqa: E402
from opcoverage.types import Sample, Status, Target  # noqa: E402
from tests.conftest import ADD_SPEC  # noqa: E402

TARGET = Target("openvino", "cpu")
SPECS = ADD_SPEC.replace('["float32", "int32"]', '["float32", "bfloat16"]') + """
[relu]
category = "activation"
samples = "unary"
dtypes = ["float32", "bfloat16"]
reference = "opcoverage.catalog.references.activation.relu"
onnx = { op_type = "Relu" }

[linalg_det]
category = "linalg"
samples = { family = "tensors", cases = [{ inputs = [[3, 3]], label = "3x3" }] }
dtypes = ["float32"]
reference = "numpy.linalg.det"
onnx = { op_type = "Det" }
"""


@pytest.fixture
def catalog(spec_dir):
    return load_catalog([spec_dir("ops.toml", SPECS)])


def _results(catalog, **kw):
    cases = plan_cases(catalog, resolve_targets([str(TARGET)]), **kw)
    return {r.id: r for r in (run_case(catalog, c) for c in cases)}


def test_cpu_is_available_and_gpu_npu_are_listed():
    devices = {d.device: d for d in get_backend("openvino").devices()}
    assert devices["cpu"].available
    assert set(devices) >= {"cpu", "gpu", "npu"}
    for device in ("gpu", "npu"):
        assert devices[device].available or "available_devices" in devices[device].reason


def test_add_and_relu_pass_in_float32_and_bfloat16_with_their_runtime_precision(catalog):
    results = _results(catalog, ops=["add", "relu"])
    assert results and all(r.status is Status.PASS for r in results.values()), results
    add = results["add-openvino:cpu-float32-s0"]
    assert add.dispatched == ("Add",) and add.extra["runtime_precision"] == ["f32"]
    assert results["relu-openvino:cpu-bfloat16-s0"].extra["runtime_precision"] == ["bf16"]


@pytest.mark.parametrize("dtype, a, b, computed_in", [
    # 1e6 + 0.3 rounds to 1000000.3125 in float32: the cancellation leaves an error far above any float64 tolerance
    ("float64", [1e6 + 0.3, 1.0], [-1e6, 1e-12], "f32"),
    ("int64", [2**40, -(2**40)], [1, 5], "i32"),
])
def test_a_64_bit_add_computed_in_32_bits_is_not_a_pass(catalog, dtype, a, b, computed_in):
    sample = Sample("add", dtype, 0, (np.array(a, dtype), np.array(b, dtype)), {}, "probe", 0)
    execution = get_backend("openvino").run(catalog["add"], sample, "cpu")
    expected = (np.add(np.array(a, dtype).astype(np.float64 if dtype == "float64" else dtype), np.array(b, dtype)),)
    verdict = compare(catalog["add"], dtype, tuple(execution.outputs), expected)
    assert verdict.status is Status.MISMATCH, (execution.outputs, verdict)
    assert execution.extra["runtime_precision"] == [computed_in]
    assert execution.fallback and f"computed this {dtype} node in {computed_in}" in execution.fallback


def test_every_64_bit_add_case_is_a_fallback_never_a_pass_even_where_its_values_agree(spec_dir):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC.replace('["float32", "int32"]', '["float64", "int64"]'))])
    results = _results(catalog)
    assert results and all(r.status is Status.FALLBACK for r in results.values()), results
    assert all("runtimePrecision" in r.message for r in results.values())


def test_det_is_unsupported_at_the_convert_stage(catalog):
    result = _results(catalog, ops=["linalg_det"])["linalg_det-openvino:cpu-float32-s0"]
    assert result.status is Status.UNSUPPORTED
    assert "No conversion rule found for operations: Det" in result.message
    assert result.extra["stage"] == "convert" and result.dispatched == ("Det",)


def test_query_model_claims_add_and_not_det(catalog, spec_dir):
    results = _results(catalog, ops=["add", "linalg_det"], dtypes=["float32"])
    environment = {"specs": [str(spec_dir("ops.toml", SPECS))], "seed": 0, "samples": "quick"}
    claims = OpenVinoClaims(TARGET, CaseSource(environment))
    assert claims.claims_for(results["add-openvino:cpu-float32-s0"]).claimed is True
    det = claims.claims_for(results["linalg_det-openvino:cpu-float32-s0"])
    assert det.claimed is False and "Det" in det.detail

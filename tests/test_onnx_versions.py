"""Opset and IR-version negotiation for an onnxruntime older than the onnx that builds the models (onnxruntime-openvino
1.24 beside onnx 1.23): models are restamped down to what the runtime loads, and a node newer than the runtime's
newest opset is reported as "this runtime lacks opset N", apart from a missing kernel."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import onnx  # noqa: E402

from opcoverage.backends import onnxruntime as ort_backend  # noqa: E402
from opcoverage.backends.base import Unsupported  # noqa: E402
from opcoverage.catalog.loader import load_catalog  # noqa: E402
from opcoverage.types import Sample  # noqa: E402
from tests.conftest import ADD_SPEC  # noqa: E402

CUMPROD = """
[cumprod]
category = "reduction"
samples = "unary"
dtypes = ["float32"]
reference = "numpy.cumprod"
onnx = { op_type = "CumProd", inputs = [0, "$dim"] }
"""


def _model(catalog, op):
    x = np.arange(1, 4, dtype=np.float32)
    sample = Sample(op, "float32", 0, (x, x) if op == "add" else (x,), {"dim": 0} if op == "cumprod" else {}, "", 0)
    return ort_backend.build_model(catalog[op].bindings["onnx"], sample, catalog[op].result_dtype)[0]


@pytest.fixture
def older_runtime(monkeypatch):
    """This runtime's limits as onnxruntime 1.24 reports them (IR 13, ai.onnx opset 25)."""
    monkeypatch.setattr(ort_backend, "runtime_limits", lambda: (13, 25))


def test_the_installed_runtime_loads_what_the_installed_onnx_builds_unchanged(spec_dir):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC)])
    model = _model(catalog, "add")
    if ort_backend.runtime_limits() < (onnx.IR_VERSION, onnx.defs.onnx_opset_version()):
        pytest.skip("this onnxruntime is older than onnx: the other tests cover it")
    assert ort_backend.negotiate_versions(model) == (model, {})


def test_a_model_is_restamped_down_and_still_runs(spec_dir, older_runtime):
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC)])
    restamped, extra = ort_backend.negotiate_versions(_model(catalog, "add"))
    proto = onnx.ModelProto.FromString(restamped)
    assert proto.ir_version == 13 and proto.opset_import[0].version == 25
    assert extra["negotiated"]["opset"] == {"built": onnx.defs.onnx_opset_version(), "ran": 25}
    session = ort_backend._ort().InferenceSession(restamped, providers=["CPUExecutionProvider"])
    x = np.arange(1, 4, dtype=np.float32)
    np.testing.assert_array_equal(session.run(None, {"x0": x, "x1": x})[0], x + x)


def test_a_node_newer_than_the_runtime_says_the_runtime_lacks_its_opset(spec_dir, older_runtime):
    catalog = load_catalog([spec_dir("c.toml", CUMPROD)])
    with pytest.raises(Unsupported, match="lacks opset 26: it loads ai.onnx up to opset 25, and the node is CumProd-26, which has no earlier"):
        ort_backend.negotiate_versions(_model(catalog, "cumprod"))


def test_on_the_openvino_ep_add_passes_and_nodes_assigned_to_the_cpu_ep_are_fallback(spec_dir):
    """Runs where onnxruntime-openvino is installed (its own environment: see the README's Targets)."""
    if "OpenVINOExecutionProvider" not in ort_backend._ort().get_available_providers():
        pytest.skip("this onnxruntime has no OpenVINOExecutionProvider (pip install onnxruntime-openvino, in its own venv)")
    from opcoverage.backends import resolve_targets
    from opcoverage.execute.runner import plan_cases, run_case
    from opcoverage.types import Status

    det = CUMPROD.replace("[cumprod]", "[linalg_det]").replace('"reduction"', '"linalg"').replace(
        '"unary"', '{ family = "tensors", cases = [{ inputs = [[3, 3]], label = "3x3" }] }').replace(
        "numpy.cumprod", "numpy.linalg.det").replace('{ op_type = "CumProd", inputs = [0, "$dim"] }', '{ op_type = "Det" }')
    catalog = load_catalog([spec_dir("a.toml", ADD_SPEC + det)])
    results = {r.id: r for r in (run_case(catalog, c) for c in plan_cases(
        catalog, resolve_targets(["onnxruntime:openvino"]), dtypes=["float32"], cases=["*-s0"]))}
    assert results["add-onnxruntime:openvino-float32-s0"].status is Status.PASS
    det_result = results["linalg_det-onnxruntime:openvino-float32-s0"]
    assert det_result.status is Status.FALLBACK and "CPUExecutionProvider ran" in det_result.message

"""Quantization: the exact references against hand-computed integers, and torch's quantized engines as targets."""

from __future__ import annotations

import numpy as np
import pytest

from opcoverage.backends import all_targets, get_backend
from opcoverage.catalog.adapters.quantization import onnx_weight_int4_linear
from opcoverage.catalog.loader import load_catalog
from opcoverage.catalog.references import quantization as q
from opcoverage.execute.runner import plan_cases, run_case
from opcoverage.types import Status, Target

HALVES = np.array([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 1e5, -1e5])  # / 0.5: ties at +-0.5, 1.5, 2.5


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(frameworks=("torch", "onnx"))  # what these tests run; jax stays unimported


def engines() -> list[str]:
    """The quantized engines this torch build has (torch_qengine targets available here)."""
    pytest.importorskip("torch")
    return [t.device for t, info in all_targets() if t.framework == "torch_qengine" and info.available]


def test_quantize_rounds_half_to_even_before_adding_the_zero_point_and_saturates():
    assert q.quantize_per_tensor(HALVES, 0.5, np.int8(3)).tolist() == [3, 5, 5, 3, 1, 1, 127, -128]
    assert q.quantize_per_tensor(HALVES, 0.5, np.uint8(3)).tolist() == [3, 5, 5, 3, 1, 1, 255, 0]
    assert q.quantize_per_tensor(HALVES, 0.5, np.int8(3)).dtype == np.int8


def test_quantize_per_channel_and_per_block_use_their_own_scales():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    channel = q.quantize_per_channel(x, np.array([1.0, 0.5]), np.array([0, -1], np.int8), axis=0)
    assert channel.tolist() == [[1, 2, 3, 4], [1, 3, 5, 7]]
    blocks = q.quantize_per_block(x, np.array([[1.0, 0.5], [2.0, 4.0]]), np.zeros((2, 2), np.int8), axis=1,
                                  block_size=2)
    assert blocks.tolist() == [[1, 2, 6, 8], [0, 1, 1, 1]]  # 0.5 rounds to even (0), 0.75 up to 1


def test_dequantize_is_exact():
    out = q.dequantize_per_tensor(np.array([-128, 0, 127], np.int8), np.float32(0.1), np.int8(3))
    assert out.tolist() == [-131 * float(np.float32(0.1)), -3 * float(np.float32(0.1)), 124 * float(np.float32(0.1))]


def test_requantization_rounds_ties_to_even_and_saturates():
    a, b = np.array([[5, 7, 100]], np.int8).T, np.array([[1]], np.int8)  # products 5, 7, 100
    y = q.qlinear_matmul(a, 0.5, np.int8(0), b, 1.0, np.int8(0), 1.0, np.int8(0))
    assert y.ravel().tolist() == [2, 4, 50]  # 2.5 -> 2, 3.5 -> 4
    assert q.qlinear_matmul(a, 0.5, np.int8(0), b, 1.0, np.int8(0), 0.25, np.int8(0)).ravel().tolist() == [10, 14,
                                                                                                          127]
    # quantized_linear: acc = (200 - 10) * 2 + (0 - 10) * -3 = 410; 410 * 0.25 * 0.5 + 1.25 = 52.5 -> 52, + 7
    y = q.quantized_linear(np.array([[200, 0]], np.uint8), 0.25, np.uint8(10), np.array([[2, -3]], np.int8), 0.5,
                           np.array([1.25]), 1.0, np.uint8(7))
    assert y.tolist() == [[59]] and y.dtype == np.uint8


def test_fp8_bits_decode_exactly():
    assert q.fp8_e4m3(np.array([0x38, 0xB8, 0x7E, 0x01, 0x00])).tolist() == [1.0, -1.0, 448.0, 2.0 ** -9, 0.0]


def test_matmul_nbits_packs_two_codes_a_byte_low_nibble_first():
    w = np.array([[-8, 7] * 8], np.int8)  # codes 0 and 15
    call = onnx_weight_int4_linear([np.zeros((1, 16), np.float32), w, np.ones((1, 1), np.float32)], {})
    assert call.inputs[1].shape == (1, 1, 8) and call.inputs[1].ravel().tolist() == [0xF0] * 8
    assert call.attributes == {"K": 16, "N": 1, "bits": 4, "block_size": 16}


def test_matmul_nbits_runs_on_onnxruntime(catalog):
    pytest.importorskip("onnxruntime")
    cases = plan_cases(catalog, [Target("onnxruntime", "cpu")], ["weight_int4_linear", "weight_int8_linear"],
                       ["float32"])
    results = [run_case(catalog, case) for case in cases]
    assert len(results) == 4 and [(r.id, r.message) for r in results if r.status is not Status.PASS] == []


def test_every_engine_runs_quantized_linear_exactly_and_records_itself(catalog):
    import torch

    default = torch.backends.quantized.engine
    found = engines()
    assert found, "this torch build lists no quantized engine"
    targets = [Target("torch_qengine", e) for e in found]
    cases = [c for c in plan_cases(catalog, targets, ["quantized_linear"], ["uint8"]) if c.sample == "s0"]
    results = [run_case(catalog, case) for case in cases]
    assert [(r.target, r.status) for r in results] == [(f"torch_qengine:{e}", Status.PASS) for e in found]
    assert [r.extra["qengine"] for r in results] == found
    assert torch.backends.quantized.engine == default  # put back after every case


def test_an_engine_that_rejects_signed_activations_says_so_as_unsupported(catalog):
    found = engines()
    rejecting = next((e for e in ("qnnpack", "fbgemm", "x86") if e in found), None)
    if rejecting is None:
        pytest.skip("no engine that rejects qint8 activations in this torch build")
    case = plan_cases(catalog, [Target("torch_qengine", rejecting)], ["quantized_linear"], ["int8"])[0]
    result = run_case(catalog, case)
    assert result.status is Status.UNSUPPORTED and "Expected input data type QUInt8 but got QInt8" in result.message
    if "onednn" in found:  # onednn takes them
        case = plan_cases(catalog, [Target("torch_qengine", "onednn")], ["quantized_linear"], ["int8"])[0]
        assert run_case(catalog, case).status is Status.PASS


def test_engine_targets_plan_the_quantization_category_only(catalog):
    found = engines()
    target = Target("torch_qengine", found[0])
    cases = plan_cases(catalog, [target, Target("torch", "cpu")], ["add", "matmul_integer"], ["int8"])
    assert {(c.op, c.target.framework) for c in cases} == {("add", "torch"), ("matmul_integer", "torch"),
                                                           ("matmul_integer", "torch_qengine")}
    assert target.device_class == "cpu"
    backend = get_backend("torch_qengine")
    assert backend.probe("nosuch").available is False and "no quantized engine 'nosuch'" in backend.probe("nosuch").reason


def test_float8_quantize_saturates_and_rounds_once_and_low_bit_integers_saturate_to_their_range():
    import ml_dtypes

    from opcoverage.catalog.references import quantization as q

    x = np.array([0.0625, 0.1875, 3.0, 100000.0, -100000.0, -0.0])
    got = q.quantize_float(x, np.float32(0.125), np.float64(0.0), "float8_e4m3fn")
    assert got.dtype == ml_dtypes.float8_e4m3fn  # 0.5 and 1.5 are exact; 24; +-448 saturated, not NaN
    assert got.astype(np.float64).tolist() == [0.5, 1.5, 24.0, 448.0, -448.0, -0.0]
    assert q.quantize_float(np.array([1e9]), np.float32(1), 0.0, "float8_e5m2").astype(float).tolist() == [57344.0]
    zero_point = np.array(1, dtype=ml_dtypes.int4)
    assert q.quantize_per_tensor(np.array([0.4, 2.5, 100.0, -100.0]), np.float32(0.5), zero_point).tolist() == \
        [2, 6, 7, -8]  # rint(0.8)=1, rint(5)=5, then + 1; int4 saturates at 7 and -8

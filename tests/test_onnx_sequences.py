"""Sequences, optionals and strings in single-node ONNX cases: the model's typed inputs and outputs, ONNX Runtime's
feeds (lists, None, str arrays) and fetches (Seq, None, str arrays), their comparison, and the runtimes that take
tensors only (OpenVINO, IREE) reporting these ops cleanly."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnx onnxruntime)")

import onnx  # noqa: E402

from opcoverage.backends import resolve_targets  # noqa: E402
from opcoverage.backends.base import Unsupported  # noqa: E402
from opcoverage.backends.onnxruntime import OnnxRuntimeBackend, build_model, tensor_feeds, type_proto  # noqa: E402
from opcoverage.catalog import opsets  # noqa: E402
from opcoverage.catalog.dtypes import dtype_name  # noqa: E402
from opcoverage.catalog.loader import builtin_specs_dir, load_catalog  # noqa: E402
from opcoverage.catalog.samples import generate  # noqa: E402
from opcoverage.compare import compare  # noqa: E402
from opcoverage.execute.runner import plan_cases, run_case  # noqa: E402
from opcoverage.types import Seq, Status, as_value  # noqa: E402

NEW_OP_TYPES = ("ConcatFromSequence", "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase",
                "SequenceInsert", "SequenceLength", "SequenceMap", "SplitToSequence", "Optional", "OptionalGetElement",
                "OptionalHasElement", "RegexFullMatch", "StringConcat", "StringNormalizer", "StringSplit")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    folder = tmp_path_factory.mktemp("specs")
    shutil.copy(builtin_specs_dir() / "onnx_sequence.toml", folder)
    return load_catalog([folder], frameworks=["onnx"])


def _sample(catalog, op, dtype, label):
    return next(s for s in generate(catalog[op], dtype, 0, "full") if s.label == label)


def _run(catalog, op, dtype, label, opset=None):
    """(outputs, reference) of one sample on onnxruntime:cpu, the binding pinned to ``opset`` if given."""
    from opcoverage.catalog.dtypes import reference_input
    from opcoverage.execute.runner import _call_reference

    spec = catalog[op]
    sample = _sample(catalog, op, dtype, label)
    if opset is not None:
        spec = dataclasses.replace(spec, bindings={"onnx": dataclasses.replace(spec.bindings["onnx"], opset=opset)})
    outputs = tuple(as_value(o) for o in OnnxRuntimeBackend().run(spec, sample, "cpu").outputs)
    return outputs, _call_reference(spec, sample.kwargs, *[reference_input(a) for a in sample.args]), spec


def test_a_sequence_input_is_a_typed_graph_input_fed_as_a_list(catalog):
    spec = catalog["sequence_insert"]
    sample = _sample(catalog, "sequence_insert", "float32", "at position 0 of 2")
    model, op_type, feeds = build_model(spec.bindings["onnx"], sample, spec.result_dtype)
    graph = onnx.ModelProto.FromString(model).graph
    assert op_type == "SequenceInsert"
    assert graph.input[0].type.WhichOneof("value") == "sequence_type"
    assert isinstance(feeds["x0"], list) and len(feeds["x0"]) == 2
    assert graph.output[0].type.sequence_type.elem_type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    outputs, expected, spec = _run(catalog, "sequence_insert", "float32", "at position 0 of 2")
    assert isinstance(outputs[0], Seq) and len(outputs[0]) == 3 and outputs[0].dtype == "float32"
    np.testing.assert_array_equal(outputs[0][0], sample.args[-1])
    assert compare(spec, "float32", outputs, expected).status is Status.PASS


def test_a_sequence_output_and_an_empty_one_keep_their_dtype(catalog):
    outputs, expected, spec = _run(catalog, "split_to_sequence", "int64", "3x6, lengths [1, 3, 2] on axis 1")
    assert [t.shape for t in outputs[0]] == [(3, 1), (3, 3), (3, 2)]
    assert compare(spec, "int64", outputs, expected).status is Status.PASS
    outputs, expected, spec = _run(catalog, "sequence_empty", "int32", "dtype of the case")
    assert outputs[0] == () and outputs[0].dtype == "int32"
    assert compare(spec, "int32", outputs, expected).status is Status.PASS
    wrong = compare(spec, "int32", (Seq((), "float32"),), expected)
    assert wrong.status is Status.MISMATCH and "a sequence of float32, expected one of int32" in wrong.message


def test_a_sequence_map_body_graph_runs_over_each_tensor(catalog):
    outputs, expected, spec = _run(catalog, "sequence_map", "float32", "Add over 2x3 & 4x3 with a 3")
    assert compare(spec, "float32", outputs, expected).status is Status.PASS


def test_optionals_are_fed_and_fetched_as_values_or_none(catalog):
    # ONNX Runtime has kernels for these ops up to opset 18 (the catalog asks for the newest opset)
    for label, want in [("optional holding a 2x3 tensor", True), ("empty optional of a tensor type", False),
                        ("optional holding a sequence", True), ("no input", False)]:
        outputs, expected, spec = _run(catalog, "optional_has_element", "float32", label, opset=18)
        assert bool(outputs[0]) is want and compare(spec, "float32", outputs, expected).status is Status.PASS, label
    outputs, expected, spec = _run(catalog, "optional_get_element", "int32", "optional holding a sequence", opset=18)
    assert isinstance(outputs[0], Seq) and compare(spec, "int32", outputs, expected).status is Status.PASS
    outputs, expected, spec = _run(catalog, "optional", "float32", "empty, of a tensor type", opset=18)
    assert outputs == (None,) and compare(spec, "float32", outputs, expected).status is Status.PASS


def test_string_ops_take_and_return_str_arrays_compared_exactly(catalog):
    outputs, expected, spec = _run(catalog, "string_concat", "string", "broadcast 2x1 & 3")
    assert outputs[0].dtype.kind == "U" and dtype_name(outputs[0].dtype) == "string" and outputs[0].shape == (2, 3)
    assert compare(spec, "string", outputs, expected).status is Status.PASS
    outputs, expected, spec = _run(catalog, "string_normalizer", "string", "UPPER, stopwords case-insensitive")
    assert outputs[0].tolist() == ["MONDAY", "WEDNESDAY", "THÉTA"]
    assert compare(spec, "string", outputs, expected).status is Status.PASS
    outputs, expected, spec = _run(catalog, "string_split", "string", "2x2, whitespace")
    assert compare(spec, "string", outputs, expected).status is Status.PASS
    changed = outputs[0].copy()
    changed[0, 0, 0] = "A"
    bad = compare(spec, "string", (changed, outputs[1]), expected)
    assert bad.status is Status.MISMATCH and "output 0: 1 of 12 strings differ (first at [0, 0, 0]" in bad.message


def test_the_comparison_explains_sequences_optionals_and_strings(catalog):
    spec = catalog["string_concat"]
    differ = compare(spec, "string", (np.array(["ab", "c"]),), (np.array(["ab", "d"]),))
    assert differ.status is Status.MISMATCH and "1 of 2 strings differ (first at [1]: got 'c', expected 'd')" in \
        differ.message
    seq = catalog["sequence_construct"]
    short = compare(seq, "float32", (Seq([np.zeros(2, np.float32)], "float32"),),
                    (Seq([np.zeros(2), np.ones(2)], "float32"),))
    assert "a sequence of 1 tensor, expected a sequence of 2 tensors" in short.message
    empty = compare(catalog["optional"], "float32", (None,), (np.zeros(2),))
    assert "an empty optional, expected a float64 tensor [2]" in empty.message


def test_string_samples_declare_values_or_draw_words(catalog):
    (first, *_) = generate(catalog["string_concat"], "string", 0)
    assert first.args[0].tolist() == ["ab", "", "Théta "] and "string[3]" in first.describe()
    words = _sample(catalog, "string_concat", "string", "random words 4x5 & 5").args[0]
    assert words.shape == (4, 5) and dtype_name(words.dtype) == "string"


def test_every_new_op_type_is_bound_and_none_is_excluded(catalog):
    bound = {spec.bindings["onnx"].op_type for spec in catalog}
    assert set(NEW_OP_TYPES) <= bound
    assert not set(NEW_OP_TYPES) & set(opsets.load_exclusions()["onnx"])


def test_type_strings_and_tensor_only_runtimes():
    assert type_proto("optional(seq(tensor(int64)))").optional_type.elem_type.sequence_type.elem_type \
        .tensor_type.elem_type == onnx.TensorProto.INT64
    with pytest.raises(ValueError, match="not an ONNX type"):
        type_proto("list(float)")
    with pytest.raises(Unsupported, match="input x0 is a sequence of 2 tensors"):
        tensor_feeds({"x0": [np.zeros(1), np.zeros(1)]}, "OpenVINO")
    with pytest.raises(Unsupported, match="input x1 is an empty optional"):
        tensor_feeds({"x0": np.zeros(1), "x1": None}, "IREE's runtime")


@pytest.mark.parametrize("target, module", [("openvino:cpu", "openvino"), ("iree:llvm-cpu", "iree.compiler")])
def test_tensor_only_runtimes_report_these_ops_without_crashing(catalog, target, module, tmp_path, monkeypatch):
    if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed, so {target} has no cases to report")
    monkeypatch.setenv("OPCOV_CACHE_DIR", str(tmp_path))
    ops = ["sequence_length", "optional_get_element", "string_concat"]
    cases = plan_cases(catalog, resolve_targets([target]), ops=ops, dtypes=["float32", "string"])
    firsts = [next(c for c in cases if c.op == op) for op in ops]  # a sequence, an optional, strings
    results = [run_case(catalog, case) for case in firsts]
    for result in results:  # a verdict with the runtime's own reason, never the harness failing on a list or None
        assert result.status in (Status.UNSUPPORTED, Status.ERROR, Status.PASS), result.message
        assert "object has no attribute" not in result.message and "Traceback" not in result.message
    assert results[0].status is Status.UNSUPPORTED and results[0].dispatched == ("SequenceLength",)

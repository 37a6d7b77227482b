"""ONNX node test data on disk: find or generate onnx's `data/node` folders, index them, and read their protos.

Older onnx wheels ship `onnx/backend/test/data/node/<test>/model.onnx` plus `test_data_set_<i>/input_<j>.pb`
and `output_<j>.pb`. Newer ones (1.23) generate the same tests in memory on import, which takes tens of
seconds; we then write them once, in that same layout, to a cache folder keyed by the onnx version, so
that every later run and every worker process reads files instead of regenerating.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from opcoverage.cache import cache_root  # noqa: F401  (re-exported: tests and the suite import it from here)

DATA_FORMAT = 2  # bump when the cache layout or the index changes
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-7  # onnx.backend.test's TestCase tolerances for node tests


def shipped_node_dir() -> Path | None:
    import onnx.backend.test

    folder = Path(onnx.backend.test.__file__).parent / "data" / "node"
    return folder if folder.is_dir() and any(folder.iterdir()) else None


def node_tests() -> tuple[Path, dict[str, dict[str, Any]]]:
    """(the folder holding one sub-folder per test, the index of the tests by name), generating them if needed."""
    import onnx

    home = cache_root() / "onnx-node" / f"onnx-{onnx.__version__}-v{DATA_FORMAT}"
    index_file = home / "index.json"
    if not index_file.exists():
        shipped = shipped_node_dir()
        _build(home, shipped)
    index = json.loads(index_file.read_text(encoding="utf-8"))
    return (Path(index["data"]) if index["data"] else home), index["tests"]


def _build(home: Path, shipped: Path | None) -> None:
    """Write the index (and, without shipped data, the generated tests) to a scratch folder, then rename it
    into place: concurrent runs never see half a cache, and the first one to finish wins."""
    home.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))
    try:
        data = shipped if shipped is not None else scratch
        if shipped is None:
            _generate(scratch)
        # "data": the shipped folder, or "" for this very folder (so that the cache may be moved)
        index = {"data": "" if shipped is None else str(shipped), "format": DATA_FORMAT,
                 "tests": index_tests(data)}
        (scratch / "index.json").write_text(json.dumps(index, indent=0, sort_keys=True), encoding="utf-8")
        try:
            os.rename(scratch, home)
        except OSError:  # another run got there first: its cache is as good as ours
            if not (home / "index.json").exists():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _generate(folder: Path) -> None:
    """onnx's node test cases, written as `onnx/backend/test/cmd_tools.py generate-data` writes them."""
    import numpy as np
    from onnx.backend.test.loader import load_model_tests

    # The case generators overflow casts and divide by zero on purpose (saturation, empty-set tests).
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    for case in cases:
        test_dir = folder / case.name
        test_dir.mkdir()
        (test_dir / "model.onnx").write_bytes(case.model.SerializeToString())
        if (case.rtol, case.atol) != (DEFAULT_RTOL, DEFAULT_ATOL):
            (test_dir / "data.json").write_text(json.dumps({"rtol": case.rtol, "atol": case.atol}))
        for i, (inputs, outputs) in enumerate(case.data_sets):
            data_dir = test_dir / f"test_data_set_{i}"
            data_dir.mkdir()
            for j, value in enumerate(inputs):
                (data_dir / f"input_{j}.pb").write_bytes(_to_proto(value, case.model.graph.input[j]))
            for j, value in enumerate(outputs):
                (data_dir / f"output_{j}.pb").write_bytes(_to_proto(value, case.model.graph.output[j]))


def _to_proto(value: Any, info) -> bytes:
    import numpy as np
    from onnx import TensorProto, numpy_helper

    kind = info.type.WhichOneof("value")
    if kind == "sequence_type":
        return numpy_helper.from_list(value, info.name).SerializeToString()
    if kind == "optional_type":
        return numpy_helper.from_optional(value, info.name).SerializeToString()
    if kind == "map_type":
        return numpy_helper.from_dict(value, info.name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(np.asarray(value), info.name).SerializeToString()


def index_tests(folder: Path) -> dict[str, dict[str, Any]]:
    """What planning needs of each test without reading its data: op types, input types, data sets, tolerances."""
    import onnx

    tests: dict[str, dict[str, Any]] = {}
    for test_dir in sorted(p for p in folder.iterdir() if (p / "model.onnx").is_file()):
        model = onnx.load(str(test_dir / "model.onnx"))
        tolerances = {"rtol": DEFAULT_RTOL, "atol": DEFAULT_ATOL}
        if (test_dir / "data.json").is_file():
            tolerances.update(json.loads((test_dir / "data.json").read_text()))
        nodes = model.graph.node
        first = next(iter(model.graph.input), None) or next(iter(model.graph.output), None)
        tests[test_dir.name] = {
            "op_type": nodes[0].op_type if len(nodes) == 1 else "",
            "domain": nodes[0].domain if len(nodes) == 1 else "",
            "op_types": list(dict.fromkeys(n.op_type for n in nodes)),
            "dtype": element_dtype(first.type) if first is not None else "none",
            "inputs": [describe_type(i.type) for i in model.graph.input],
            "datasets": len(list(test_dir.glob("test_data_set_*"))),
            **tolerances,
        }
    for name, test in tests.items():
        if not test["op_type"]:  # a function expanded into its body: it tests the op it was expanded from
            base = tests.get(name.split("_expanded")[0], {})
            test["op_type"] = base.get("op_type") or (test["op_types"] or ["?"])[0]
            test["domain"] = base.get("domain", "")
            test["expanded"] = True
    return tests


def element_dtype(type_proto) -> str:
    """The element dtype's NumPy (or ml_dtypes) name: float32, bfloat16, float8_e4m3fn, int4, string."""
    from onnx import TensorProto, helper

    kind = type_proto.WhichOneof("value")
    if kind == "tensor_type":
        elem = type_proto.tensor_type.elem_type
        if elem == TensorProto.STRING:
            return "string"
        try:
            return helper.tensor_dtype_to_np_dtype(elem).name
        except (KeyError, ValueError, TypeError):
            return TensorProto.DataType.Name(elem).lower()
    if kind == "sequence_type":
        return element_dtype(type_proto.sequence_type.elem_type)
    if kind == "optional_type":
        return element_dtype(type_proto.optional_type.elem_type)
    return kind or "none"


def describe_type(type_proto) -> str:
    """float32[3,4,5], seq(float32), optional(seq(int64)); symbolic dimensions keep their names."""
    kind = type_proto.WhichOneof("value")
    if kind == "tensor_type":
        dims = [str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
                for d in type_proto.tensor_type.shape.dim]
        shape = f"[{','.join(dims)}]" if type_proto.tensor_type.HasField("shape") else ""
        return element_dtype(type_proto) + shape
    if kind == "sequence_type":
        return f"seq({describe_type(type_proto.sequence_type.elem_type)})"
    if kind == "optional_type":
        return f"optional({describe_type(type_proto.optional_type.elem_type)})"
    return kind or "none"


def load_dataset(test_dir: Path, model, index: int) -> tuple[list[Any], list[Any]]:
    """(inputs, expected outputs) of one data set, read as onnx's runner reads them (`Runner._load_proto`):
    tensors as NumPy arrays, sequences as lists, optionals as the value or None."""
    data_dir = test_dir / f"test_data_set_{index}"
    names = os.listdir(data_dir)
    count = {kind: sum(n.startswith(f"{kind}_") and n.endswith(".pb") for n in names) for kind in ("input", "output")}
    inputs = [_read(data_dir / f"input_{i}.pb", model.graph.input[i].type) for i in range(count["input"])]
    outputs = [_read(data_dir / f"output_{i}.pb", model.graph.output[i].type) for i in range(count["output"])]
    return inputs, outputs


def _read(path: Path, type_proto) -> Any:
    import onnx
    from onnx import numpy_helper

    raw = path.read_bytes()
    kind = type_proto.WhichOneof("value")
    if kind == "sequence_type":
        return numpy_helper.to_list(onnx.SequenceProto.FromString(raw))
    if kind == "optional_type":
        return numpy_helper.to_optional(onnx.OptionalProto.FromString(raw))
    if kind == "tensor_type":
        return numpy_helper.to_array(onnx.TensorProto.FromString(raw))
    raise NotImplementedError(f"{path.name} holds a {kind or 'untyped'} value; only tensors, sequences and "
                              "optionals are read (as onnx's own runner does)")

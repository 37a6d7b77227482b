"""Benchmark: the ONNX node suite through opcoverage against onnx's own pytest BackendTest runner, on onnxruntime:cpu.

    python benchmarks/onnx_node_speed.py [--jobs N] [--cold] [--ops test_add,Relu]

Runs on this machine, one after the other:
  (a) onnx's `BackendTest(onnxruntime.backend)` under pytest, node tests on CPU only (`-k _cpu`), the whole
      pytest process timed (it generates the node tests on import, as every onnx >= 1.19 run does);
  (b) `opcoverage run --suite onnx-node --targets onnxruntime:cpu` (default -j), the whole process timed, with the
      suite's data already cached (the one-off cache build is timed apart; --cold also times a run that builds it);
  (c) a plain in-process onnxruntime loop over the same test data (onnx's own proto loading and its own
      `Runner.assert_similar_outputs`, i.e. the same inputs and tolerances), as the verdict reference.
Prints both times, the ratio, and how far opcoverage's per-case verdicts agree with (c) and with (a).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

BACKEND_TEST_MODULE = textwrap.dedent("""
    import onnx.backend.test
    import onnxruntime.backend

    backend_test = onnx.backend.test.BackendTest(onnxruntime.backend, __name__)
    # Only the node tests (the other categories are real models, mostly downloaded).
    globals().update({name: case for name, case in backend_test.test_cases.items()
                      if name == "OnnxBackendNodeModelTest"})
""")


def run_backend_test(folder: Path, selection: list[str]) -> tuple[float, dict[str, str]]:
    """(wall seconds, verdict by test name: pass / fail / skipped) of onnx's runner under pytest."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_onnx_backend_node.py").write_text(BACKEND_TEST_MODULE)
    junit = folder / "junit.xml"
    keyword = "_cpu" if not selection else " or ".join(f"{name}_cpu" for name in selection)
    command = [sys.executable, "-m", "pytest", "test_onnx_backend_node.py", "-q", "-p", "no:cacheprovider",
               "-p", "no:opcoverage", "--tb=no", "-k", keyword, f"--junitxml={junit}"]
    start = time.perf_counter()
    subprocess.run(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    verdicts = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "").removesuffix("_cpu")
        if case.find("skipped") is not None:
            verdicts[name] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            verdicts[name] = "fail"
        else:
            verdicts[name] = "pass"
    return seconds, verdicts


def run_opcoverage(out: Path, jobs: int | None, ops: str, env: dict[str, str]) -> tuple[float, dict[str, str]]:
    command = [sys.executable, "-m", "opcoverage", "run", "--suite", "onnx-node", "--targets", "onnxruntime:cpu",
               "--out", str(out)] + (["-j", str(jobs)] if jobs else []) + (["--ops", ops] if ops else [])
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    seconds = time.perf_counter() - start
    return seconds, {r["op"]: r["status"] for r in json.loads(out.read_text())["results"]}


def plain_loop(tests: dict[str, dict], root: Path) -> dict[str, str]:
    """Verdicts of a plain onnxruntime session per test (its data set 0: node tests have one): pass, mismatch
    (onnx's assertion at the test's tolerances), fail (an exception)."""
    import ctypes

    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper
    from onnx.backend.test.runner import Runner

    ort.set_default_logger_severity(4)

    def to_ortvalue(array):  # types NumPy lacks (bfloat16, float8, int4): the bytes onnx stores, as ORT wants
        raw = np.frombuffer(numpy_helper.from_array(array).raw_data, np.uint8)
        carrier = np.zeros(array.shape, np.uint16 if array.dtype.itemsize == 2 else np.uint8)
        carrier.reshape(-1).view(np.uint8)[: raw.size] = raw
        return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(carrier, helper.np_dtype_to_tensor_dtype(array.dtype))

    def element_type(ort_type: str):  # "tensor(float8e4m3fn)" -> TensorProto.FLOAT8E4M3FN, else None
        return getattr(onnx.TensorProto, ort_type[len("tensor("):-1].upper(), None) if ort_type.startswith(
            "tensor(") else None

    def numpy_lacks(ort_type: str) -> bool:
        elem = element_type(ort_type)
        return elem not in (None, onnx.TensorProto.STRING) and helper.tensor_dtype_to_np_dtype(elem).isbuiltin == 2

    def from_ortvalue(value):
        if not numpy_lacks(value.data_type()):
            return value.numpy()
        size = value.tensor_size_in_bytes()
        raw = ctypes.string_at(value.data_ptr(), size) if size else b""
        return numpy_helper.to_array(helper.make_tensor("y", element_type(value.data_type()), value.shape(), raw,
                                                        raw=True))

    verdicts = {}
    for name in tests:
        test_dir = root / name
        model = onnx.load(str(test_dir / "model.onnx"))
        data = test_dir / "test_data_set_0"
        inputs, expected = [], []
        for i in range(len(list(data.glob("input_*.pb")))):
            Runner._load_proto(None, str(data / f"input_{i}.pb"), inputs, model.graph.input[i].type)
        for i in range(len(list(data.glob("output_*.pb")))):
            Runner._load_proto(None, str(data / f"output_{i}.pb"), expected, model.graph.output[i].type)
        feeds = {info.name: value for info, value in zip(model.graph.input, inputs)}
        try:
            session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            exotic = any(isinstance(v, np.ndarray) and v.dtype.isbuiltin == 2 for v in feeds.values()) or any(
                numpy_lacks(o.type) for o in session.get_outputs())
            if exotic:  # session.run() cannot convert these types; OrtValues carry them
                got = [from_ortvalue(v) for v in session.run_with_ort_values(
                    None, {k: to_ortvalue(v) if v.dtype.isbuiltin == 2 else ort.OrtValue.ortvalue_from_numpy(v)
                           for k, v in feeds.items()})]
            else:
                got = session.run(None, feeds)
        except Exception:
            verdicts[name] = "fail"
            continue
        try:
            Runner.assert_similar_outputs(expected, got, rtol=tests[name]["rtol"], atol=tests[name]["atol"])
            verdicts[name] = "pass"
        except AssertionError:
            verdicts[name] = "mismatch"
        except Exception as exc:  # onnx's comparison itself could not compare these values
            verdicts[name] = f"uncomparable ({type(exc).__name__})"
    return verdicts


def coarse(status: str) -> str:
    """opcoverage's statuses folded onto the plain loop's: pass, mismatch, fail (did not run), skipped."""
    return {"pass": "pass", "mismatch": "mismatch", "skipped": "skipped"}.get(status, "fail")


def agreement(ours: dict[str, str], theirs: dict[str, str], fold) -> tuple[int, int, list[str]]:
    common = sorted(set(ours) & set(theirs))
    differ = [f"{name}: opcoverage {ours[name]}, reference {theirs[name]}" for name in common
              if fold(ours[name]) != theirs[name]]
    return len(common) - len(differ), len(common), differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=None, help="opcoverage -j (default: its own default)")
    parser.add_argument("--ops", default="", help="only these tests (names, op types or globs), for a quick check")
    parser.add_argument("--cold", action="store_true", help="also time opcoverage with an empty suite cache")
    parser.add_argument("--show", type=int, default=15, help="disagreements to list")
    args = parser.parse_args()

    from opcoverage.suites import get_suite

    start = time.perf_counter()
    suite = get_suite("onnx-node")  # builds the cache if this onnx has none yet
    build = time.perf_counter() - start
    tests = suite.select(args.ops.split(",") if args.ops else [])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_ref, backend_verdicts = run_backend_test(tmp, tests if args.ops else [])
        t_ours, ours = run_opcoverage(tmp / "suite.json", args.jobs, args.ops, dict(os.environ))
        t_cold = None
        if args.cold:
            env = dict(os.environ, OPCOV_CACHE_DIR=str(tmp / "cold-cache"))
            t_cold, _ = run_opcoverage(tmp / "cold.json", args.jobs, args.ops, env)
    start = time.perf_counter()
    plain = plain_loop({name: suite.tests[name] for name in tests}, suite.root)
    t_plain = time.perf_counter() - start

    print(f"onnx-node suite: {len(tests)} tests, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"(a) onnx BackendTest + onnxruntime.backend under pytest: {t_ref:.1f} s")
    print(f"(b) opcoverage run --suite onnx-node --targets onnxruntime:cpu: {t_ours:.1f} s "
          f"(suite cache {'built' if build > 5 else 'loaded'} beforehand in {build:.1f} s)")
    print(f"    speed-up (a)/(b): {t_ref / t_ours:.2f}x")
    if t_cold is not None:
        print(f"    cold, building the cache too: {t_cold:.1f} s, speed-up {t_ref / t_cold:.2f}x")
    print(f"(c) plain in-process onnxruntime loop: {t_plain:.1f} s")
    print("opcoverage verdicts: " + ", ".join(f"{k} {v}" for k, v in collections.Counter(ours.values()).items()))
    agree, total, differ = agreement(ours, plain, coarse)
    print(f"agreement with (c), same inputs and tolerances: {agree}/{total} = {100 * agree / max(total, 1):.2f}%")
    for line in differ[: args.show]:
        print("   ", line)
    agree_b, total_b, differ_b = agreement(ours, backend_verdicts, lambda s: "pass" if s == "pass" else "fail")
    print(f"agreement with (a), pass/fail: {agree_b}/{total_b} = {100 * agree_b / max(total_b, 1):.2f}%")
    exotic = [line for line in differ_b if has_type_numpy_lacks(suite.root / line.split(":")[0])]
    if exotic:
        print(f"    {len(exotic)} of these tests have an input or output of a type NumPy lacks (bfloat16, float8, "
              "int4, int2): onnxruntime.backend feeds and fetches through NumPy and fails before comparing; "
              "opcoverage and (c) pass such values as OrtValues of the ONNX type")
    others = [line for line in differ_b if line not in exotic]
    for line in others[: args.show]:
        print("   ", line)
    if len(others) > args.show:
        print(f"    ... {len(others) - args.show} more")


def has_type_numpy_lacks(test_dir: Path) -> bool:
    import onnx
    from onnx import helper

    model = onnx.load(str(test_dir / "model.onnx"))
    for value in list(model.graph.input) + list(model.graph.output):
        elem = value.type.tensor_type.elem_type if value.type.HasField("tensor_type") else 0
        if elem not in (0, onnx.TensorProto.STRING) and helper.tensor_dtype_to_np_dtype(elem).isbuiltin == 2:
            return True
    return False


if __name__ == "__main__":
    main()

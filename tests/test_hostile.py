"""Hostile backends: broken plugins, bindings that crash, hang, exit or flood, memory hogs and silent downcasts are
each classified on their own cases, and never take the other targets or the run down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADD_SPEC

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = {
    "hostile": "tests.fault.hostile:HostileBackend",
    "broken": "tests.fault.broken_plugin:Backend",
    "badquery": "tests.fault.hostile:FailingQueryBackend",
    "hangquery": "tests.fault.hostile:HangingQueryBackend",
    "downcast": "tests.fault.hostile:DowncastBackend",
}
# device -> (status, a phrase its message must hold)
EXPECTED = {
    "ok": ("pass", ""),
    "segfault": ("crash", "SIGSEGV"),
    "abort": ("crash", "SIGABRT"),
    "exit": ("crash", "exited with code 3"),
    "sysexit": ("error", "SystemExit"),
    "interrupt": ("error", "KeyboardInterrupt"),
    "sigterm": ("crash", "SIGTERM"),
    "hang": ("timeout", "no result after 15 s"),
    "raise": ("error", "the driver returned an error"),
    "flood": ("pass", ""),
    "wrong": ("mismatch", "values differ"),
    "shape": ("mismatch", "shape [131], expected [4, 33]"),
    "dtype": ("mismatch", "dtype float64, expected float32"),
    "nan": ("mismatch", "got nan"),
}


# Op and dtype pairs whose results a float32 (int32) computation cannot change, so that even a downcasting backend
# passes every case of them, each group with the reason. Any other such op is a hole in the probes.
_VALUE_FREE = "the result holds no value that narrowing rounds or wraps: sizes, shapes or constants"
_NARROWER = "the result is no wider than float32 (int32), so computing through it loses nothing"
_OVERFLOW = "every int64 input beyond int32 overflows the result, which is then the implementation's choice"
PRECISION_BLIND = {
    **dict.fromkeys([f"{op} {dt}" for op in ("arange", "eye_like", "fill", "full", "full_like", "numel",
                                             "scalar_tensor", "shape_as_tensor", "type_as", "zeros_like")
                     for dt in ("float64", "int64")] +
                    ["empty_strided int64", "one_hot int64"],
                    _VALUE_FREE),
    **dict.fromkeys(["cast_to_bfloat16 float64", "cast_to_float16 float64", "cast_to_float32 float64",
                     "cast_to_complex64 float64", "cast_to_int32 int64", "reduce_precision float64",
                     "cast_to_float16 int64", "cast_to_int8 int64", "cast_to_int16 int64", "cast_to_uint8 int64",
                     "cast_to_uint16 int64", "cast_to_uint32 int64", "cast_to_int4 int64", "cast_to_uint4 int64",
                     "cast_to_float8_e4m3fn int64", "cast_to_float8_e5m2 int64", "cast_to_float4_e2m1fn int64"],
                    _NARROWER),
    "cast_to_uint64 int64": "half its int64 probe values are negative, and a negative value leaves uint64's range",
    **dict.fromkeys(["cumprod int64", "prod int64", "pow int64", "linalg_matrix_power int64",
                     "linalg_vander int64"], _OVERFLOW),
    **dict.fromkeys(["isfinite float64", "isinf float64", "isnan float64"],
                    "the sampling domains hold no value that float32 overflows"),
    **dict.fromkeys(["cummax int64", "cummin int64", "kthvalue int64", "topk int64"],
                    "their int64 inputs are held to a declared range (-5..5), which int32 holds exactly"),
}


@pytest.fixture
def plugin_env(tmp_path):
    """An environment in which the test plugins are installed through real `opcoverage.backends` entry points."""
    dist = tmp_path / "site" / "hostile_vendor-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-vendor\nVersion: 0.1\n")
    lines = "".join(f"{name} = {path}\n" for name, path in PLUGINS.items())
    (dist / "entry_points.txt").write_text(f"[opcoverage.backends]\n{lines}")
    path = os.pathsep.join([str(tmp_path / "site"), str(ROOT / "src"), str(ROOT)])
    return {**os.environ, "PYTHONPATH": path, "OPCOV_PLUGIN_TIMEOUT": "3"}


def _cli(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "opcoverage", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _records(path: Path) -> dict[str, dict]:
    return {f"{r['op']}-{r['target']}-{r['dtype']}-{r['sample']}": r for r in json.loads(path.read_text())["results"]}


def test_broken_plugins_are_listed_and_never_hide_the_other_targets(plugin_env):
    listed = _cli(plugin_env, "targets")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith("torch:cpu") and " yes " in line for line in lines)
    assert any(line.startswith("hostile:segfault") for line in lines)
    broken = {line.split()[0]: line for line in lines if "broken plugin" in line}
    assert "vendor_sdk_that_is_not_installed" in broken["broken:*"]
    assert "vendor driver not loaded" in broken["badquery:*"]
    assert "did not return within 3 s" in broken["hangquery:*"]
    assert "Traceback" not in listed.stdout + listed.stderr

    refused = _cli(plugin_env, "run", "--targets", "broken:npu")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "broken" in refused.stderr and "vendor_sdk" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_hostile_plugin_cases_are_each_classified_and_torch_is_untouched(plugin_env, spec_dir, tmp_path):
    specs = str(spec_dir("ops.toml", ADD_SPEC))
    out, alone = tmp_path / "with.json", tmp_path / "alone.json"
    hostile = ",".join(f"hostile:{d}" for d in EXPECTED)
    ran = _cli(plugin_env, "run", "--specs", specs, "--targets", f"torch:cpu,{hostile}", "--cases", "*-float32-s0",
               "--timeout", "15", "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    assert len(ran.stdout) + len(ran.stderr) < 100_000  # 16 MB of the flood went to the worker's log, not here
    records = _records(out)
    for device, (status, phrase) in EXPECTED.items():
        record = records[f"add-hostile:{device}-float32-s0"]
        assert (record["status"], device) == (status, device), record["message"]
        assert phrase in record["message"], (device, record["message"])

    without = _cli(plugin_env, "run", "--specs", specs, "--targets", "torch:cpu", "--out", str(alone))
    assert without.returncode == 0, without.stderr
    torch_alone = {k: (r["status"], r["message"]) for k, r in _records(alone).items()}
    torch_with = {k: (r["status"], r["message"]) for k, r in records.items() if "-torch:cpu-" in k}
    assert torch_with == {k: v for k, v in torch_alone.items() if k in torch_with} and torch_with


def test_a_case_past_the_memory_cap_is_an_out_of_memory_crash_of_its_worker_only(plugin_env, spec_dir, tmp_path):
    folder = spec_dir("ops.toml", """
        [hog]
        category = "fault"
        samples = "unary"
        dtypes = ["float32"]
        reference = "numpy.positive"
        torch = "tests.fault.ops.allocate_too_much"

        [ok_identity]
        category = "fault"
        samples = "unary"
        dtypes = ["float32"]
        reference = "numpy.positive"
        torch = "tests.fault.ops.identity"
    """)
    out = tmp_path / "r.json"
    ran = _cli(plugin_env, "run", "--specs", str(folder), "--targets", "torch:cpu", "-j", "1", "--max-memory", "3G",
               "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    records = {r["op"]: r for r in json.loads(out.read_text())["results"]}
    hog = [r for r in records.values() if r["op"] == "hog"]
    assert {r["status"] for r in hog} == {"crash"}
    assert all("out of memory past the worker's cap of 3 GiB" in r["message"] for r in hog)
    assert records["ok_identity"]["status"] == "pass"


def test_a_backend_computing_float64_in_float32_never_passes(plugin_env, tmp_path):
    """Every float64 and int64 case of the shipped catalog on a backend that narrows them, correctly rounded."""
    out = tmp_path / "downcast.json"
    ran = _cli(plugin_env, "run", "--targets", "downcast:cpu", "--dtypes", "float64,int64", "--out", str(out))
    assert ran.returncode == 0, ran.stderr
    data = json.loads(out.read_text())
    # Random ops are judged by their draws' distribution, which a float32 generator meets as well (and this backend
    # has no generator): they are the precision probes' blind spot by design.
    records = [r for r in data["results"] if data["environment"]["categories"].get(r["op"]) != "random"]
    by_op: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by_op.setdefault((r["op"], r["dtype"]), []).append(r)
    # An op's cell in a dtype passes only when every case of it passes (the report's roll-up): the probes fail
    # each op whose result narrowing can change, even where its ordinary samples fit in float32 (int32).
    passing = sorted(f"{op} {dtype}" for (op, dtype), rs in by_op.items()
                     if all(r["status"] in ("pass", "skipped") for r in rs) and any(r["status"] == "pass" for r in rs))
    assert passing == sorted(PRECISION_BLIND), (set(passing) ^ set(PRECISION_BLIND))
    failed = [r for r in records if r["status"] == "mismatch"]
    assert failed and all(r.get("extra", {}).get("computed_as") == {"float64": "float32", "int64": "int32"}[r["dtype"]]
                          for r in failed), [r["op"] for r in failed if "computed_as" not in r.get("extra", {})][:20]

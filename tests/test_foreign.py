"""--python: a target run under another interpreter, beside this run, into the same results file; a bad interpreter or
a target that interpreter cannot run is bad input, and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "opcoverage", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def other_python(tmp_path):
    """Another interpreter: a wrapper that records each command it is given, then runs this Python."""
    calls = tmp_path / "calls"
    wrapper = tmp_path / "bin" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls


def test_a_target_under_another_interpreter_joins_this_runs_results_file(tmp_path, other_python):
    pytest.importorskip("onnxruntime")
    wrapper, calls = other_python
    out = tmp_path / "r.json"
    done = _cli("run", "--targets", "torch:cpu,onnxruntime:cpu", "--python", f"onnxruntime:cpu={wrapper}",
                "--ops", "add,neg", "--dtypes", "float32", "--timeout", "60", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    by_target = {}
    for r in data["results"]:
        by_target.setdefault(r["target"], []).append(r["status"])
    assert by_target == {"torch:cpu": ["pass"] * 4, "onnxruntime:cpu": ["pass"] * 4}
    commands = calls.read_text().splitlines()
    assert any(line.startswith("-m opcoverage run --targets onnxruntime:cpu") for line in commands)
    ort_target = data["environment"]["targets"]["onnxruntime:cpu"]
    assert ort_target["interpreter"] == str(wrapper) and "onnxruntime" in ort_target["frameworks"]
    assert "onnxruntime" not in data["environment"]["frameworks"]  # this environment's versions only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "calls", "r.json"]  # its part file and log removed


def test_a_bad_interpreter_or_a_target_it_cannot_run_is_bad_input(tmp_path, other_python):
    out = tmp_path / "r.json"
    missing = _cli("run", "--targets", "torch:cpu", "--python", "torch:cpu=/no/such/python", "--ops", "add",
                   "--out", str(out), cwd=tmp_path)
    assert missing.returncode == 2 and "no such interpreter" in missing.stderr
    assert missing.stderr.count("\n") == 1 and "Traceback" not in missing.stderr
    unlisted = _cli("run", "--targets", "torch:cpu", "--python", "jax:cpu=python3", "--out", str(out), cwd=tmp_path)
    assert unlisted.returncode == 2 and "which --targets does not list" in unlisted.stderr
    wrapper, _ = other_python
    unknown = _cli("run", "--targets", "torch:cpu,nosuch:cpu", "--python", f"nosuch:cpu={wrapper}", "--ops", "add",
                   "--dtypes", "float32", "--out", str(out), cwd=tmp_path)
    assert unknown.returncode == 2 and f"--python nosuch:cpu={wrapper}: unknown framework" in unknown.stderr
    assert "Traceback" not in unknown.stderr and unknown.stderr.count("\n") == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bin", "calls"]

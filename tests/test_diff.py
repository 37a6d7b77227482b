"""`opcoverage diff`: same-commit runs show nothing; an injected slow-down and an injected breakage show exactly those.

The runs are real `opcoverage run --perf` runs of the fault backend (tests/fault/backend.py), whose timed call
sleeps a fixed time, so a 30% slow-down of one op is the only change a correct diff may report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opcoverage import results as res
from opcoverage.diff import benjamini_hochberg, diff, environment_changes
from opcoverage.types import CaseResult, Status

ROOT = Path(__file__).resolve().parents[1]
PERF_SPECS = ROOT / "tests" / "fault" / "perf_specs"


def _site(tmp_path: Path) -> Path:
    """The fault backend's entry point, as a distribution on PYTHONPATH (what tests.fault.backend.install writes)."""
    dist = tmp_path / "site" / "fault_vendor-1.0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fault-vendor\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[opcoverage.backends]\nfault = tests.fault.backend:FaultBackend\n")
    return tmp_path / "site"


def _opcoverage(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), str(_site(tmp_path)), os.environ.get("PYTHONPATH", "")])
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OPCOV_FAULT")}
    environ.update(env or {}, PYTHONPATH=path.rstrip(os.pathsep))
    return subprocess.run([sys.executable, "-m", "opcoverage", *args], env=environ, capture_output=True, text=True,
                          timeout=300)


def _perf_run(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> Path:
    out = tmp_path / f"{name}.json"
    # A 256-byte "cache" that the declared samples already pass: the perf shape is the declared sample in every
    # run, never one that a busy machine's time cap shrank (medians of different shapes are not compared).
    # A timed call sleeps 20 ms: a busy machine's wake-up latency (up to a millisecond or so) stays under the 10%
    # threshold, while the injected slowdown (30%) is well past it.
    env = {"OPCOV_LLC_BYTES": "256", "OPCOV_FAULT_CALL_S": "0.02", **(env or {})}
    proc = _opcoverage(tmp_path, "run", "--specs", str(PERF_SPECS), "--targets", "fault:ok", "--perf",
                       "--perf-budget", "5", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Two runs of the same code, and one with `exp` broken and `tanh` sleeping 30% longer."""
    tmp_path = tmp_path_factory.mktemp("diff")
    base = _perf_run(tmp_path, "base")
    same = _perf_run(tmp_path, "same")
    faulty = _perf_run(tmp_path, "faulty", {"OPCOV_FAULT_BREAK": "exp", "OPCOV_FAULT_SLOW": "tanh:1.3"})
    return tmp_path, base, same, faulty


def test_two_runs_of_the_same_code_differ_in_nothing(three_runs):
    tmp_path, base, same, _ = three_runs
    timed = [r for r in res.read(base).results if r.perf]
    assert len(timed) == 8 and all(len(r.perf["times_s"]) >= 5 for r in timed)  # raw repeat times are stored
    d = diff(res.read(base), res.read(same))
    assert not d.coverage_changed and d.unchanged == len(res.read(base).results)
    assert d.perf_compared == 8 and not d.perf_regressions and not d.perf_improvements
    proc = _opcoverage(tmp_path, "diff", str(base), str(same), "--fail-on", "coverage,perf")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No verdict changed" in proc.stdout and "**0 slower**" in proc.stdout


def test_a_slowed_op_and_a_broken_op_are_exactly_what_the_diff_reports(three_runs):
    tmp_path, base, _, faulty = three_runs
    d = diff(res.read(base), res.read(faulty))
    assert [c.id for c in d.regressions] == ["exp-fault:ok-float32-s0", "exp-fault:ok-float32-s1"]
    assert {c.after for c in d.regressions} == {"mismatch"}
    assert not (d.fixes or d.changed or d.new_cases or d.removed or d.error_growth)
    assert [p.op for p in d.perf_regressions] == ["tanh"] and not d.perf_improvements
    assert 1.2 < d.perf_regressions[0].ratio < 1.45 and d.perf_regressions[0].q_value < 0.05
    # the broken op is no longer timed, so it is not compared for speed
    assert d.perf_compared == 7

    proc = _opcoverage(tmp_path, "diff", str(base), str(faulty), "--json", "--fail-on", "perf")
    assert proc.returncode == 1 and "1 perf regressions" in proc.stderr
    data = json.loads(proc.stdout)
    assert data["counts"]["regressions"] == 2 and data["counts"]["perf_regressions"] == 1
    proc = _opcoverage(tmp_path, "diff", str(base), str(faulty), "--fail-on", "coverage")
    assert proc.returncode == 1
    assert "## Regressions (pass -> failing): 2" in proc.stdout and "`tanh-fault:ok-float32-s0`" in proc.stdout
    assert _opcoverage(tmp_path, "diff", str(base), str(faulty)).returncode == 0  # no --fail-on: no gate


def _record(op, status, err=None, times=None, median_s=None, target="torch:cpu"):
    perf = None if times is None else {"shapes": [[8]], "median_s": median_s, "times_s": times}
    return CaseResult(op, target, "float32", "s0", Status(status), max_rel_err=err, perf=perf)


def test_error_growth_new_and_removed_cases_and_environment_changes():
    base = res.ResultsFile({"frameworks": {"torch": "2.12"}, "cpu_features": ["avx2"],
                            "targets": {"torch:cpu": {"name": "EPYC", "driver": "threads=2"}}},
                           (_record("add", "pass", 1e-7), _record("mul", "pass", 1e-7), _record("old", "error")))
    new = res.ResultsFile({"frameworks": {"torch": "2.13"}, "cpu_features": ["avx2", "avx512f", "amx_bf16"],
                           "targets": {"torch:cpu": {"name": "EPYC", "driver": "threads=2"}}},
                          (_record("add", "pass", 5e-6), _record("mul", "pass", 1.5e-7), _record("fresh", "pass")))
    d = diff(base, new)
    assert [c.op for c in d.error_growth] == ["add"] and [c.op for c in d.new_cases] == ["fresh"]
    assert [c.op for c in d.removed] == ["old"] and d.unchanged == 1
    assert environment_changes(base.environment, new.environment) == [
        ("cpu_features", ["avx2"], ["avx2", "avx512f", "amx_bf16"]), ("frameworks.torch", "2.12", "2.13")]


def test_a_uniformly_slower_machine_is_not_a_regression_and_noise_is_set_apart():
    fast = [1.0, 1.01, 0.99, 1.02, 0.98, 1.0]
    base = res.ResultsFile({}, tuple(_record(f"op{i}", "pass", times=fast, median_s=1.0) for i in range(6)))
    slower = [t * 1.5 for t in fast]
    noisy = [0.5, 3.0, 0.6, 2.5, 0.7, 2.0]  # median 1.35x the others', but the spread says nothing
    new = res.ResultsFile({}, tuple(_record(f"op{i}", "pass", times=noisy if i == 0 else slower,
                                            median_s=1.35 * 1.5 if i == 0 else 1.5) for i in range(6)))
    d = diff(base, new)
    assert d.perf_scale == pytest.approx(1.5)
    assert not d.perf_regressions and [p.op for p in d.perf_unconfirmed] == ["op0"]


def test_benjamini_hochberg_matches_the_textbook_example():
    # worked by hand: sorted p 0.005, 0.01, 0.03, 0.04 (m = 4) give p*m/rank 0.02, 0.02, 0.04, 0.04, made monotone
    q = benjamini_hochberg([0.01, 0.04, 0.03, None, 0.005])
    assert q[3] is None
    assert q == pytest.approx([0.02, 0.04, 0.04, None, 0.02])


def test_bad_fail_on_is_a_usage_error(tmp_path):
    proc = _opcoverage(tmp_path, "diff", "a.json", "b.json", "--fail-on", "speed")
    assert proc.returncode == 2 and "--fail-on takes coverage and/or perf" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_file_from_before_modes_diffs_cleanly_and_a_mode_case_is_its_own_column(tmp_path):
    forward = (CaseResult("add", "torch:cpu", "float32", "s0", Status.PASS),
               CaseResult("sin", "torch:cpu", "float32", "s0", Status.ERROR, "boom"))
    res.write(tmp_path / "old.json", res.ResultsFile({}, forward))
    data = json.loads((tmp_path / "old.json").read_text())
    for record in data["results"]:  # as written before the mode axis: no "mode" in records or environment
        del record["mode"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    grad = CaseResult("add", "torch:cpu", "float32", "s0", Status.MISMATCH, "wrong gradient", mode="grad")
    new = res.ResultsFile({"modes": {"requested": ["forward"], "not_applicable": {}}}, forward)
    d = diff(res.read(tmp_path / "old.json"), new)
    assert not d.coverage_changed and not d.environment and d.unchanged == 2
    d = diff(new, res.ResultsFile({"modes": {"requested": ["forward", "grad"]}}, forward + (grad,)))
    assert d.environment == [("modes", ["forward"], ["forward", "grad"])] and d.unchanged == 2
    [change] = d.new_cases
    assert (change.id, change.column, change.mode) == ("add-torch:cpu/grad-float32-s0", "torch:cpu/grad", "grad")
    assert d.to_json()["new_cases"][0]["column"] == "torch:cpu/grad"

"""Isolated runs: crashing and hanging bindings are pinned on their case, and a killed run resumes to the same verdicts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from opcoverage.journal import Journal, journal_path
from opcoverage.types import CaseResult, Status

ROOT = Path(__file__).resolve().parents[1]
FAULT_SPECS = ROOT / "tests" / "fault" / "specs"
SLOW_SPECS = ROOT / "tests" / "fault" / "slow_specs"


def _cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    # The fault bindings live in tests/; the checkout's own src/ comes first, whichever copy is installed.
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, **(env or {}), "PYTHONPATH": path}
    return subprocess.Popen([sys.executable, "-m", "opcoverage", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _statuses(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    return {f"{r['op']}-{r['target']}-{r['dtype']}-{r['sample']}": r["status"] for r in data["results"]}


def test_crashing_and_hanging_bindings_beside_normal_ops_in_the_cli_and_pytest(tmp_path, pytester, monkeypatch):
    """Segfaulting, aborting and hanging bindings beside normal ops, through `opcoverage run` and the pytest form:
    in pytest each fails as its own item, the session goes on, and the results file equals the CLI's."""
    out = tmp_path / "faults.json"
    proc = _cli("run", "--specs", str(FAULT_SPECS), "--targets", "torch:cpu", "--cases", "*-s0", "-j", "2",
                "--timeout", "8", "--out", str(out))
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    by_op = {key.split("-")[0]: status for key, status in _statuses(out).items()}
    assert by_op == {"ok_identity": "pass", "ok_neg": "pass", "aborts": "crash", "segfaults": "crash",
                     "exits": "crash", "hangs": "timeout", "raises": "error", "wrong_shape": "mismatch",
                     "returns_nan": "mismatch"}
    records = {r["op"]: r for r in json.loads(out.read_text())["results"]}
    assert "SIGABRT" in records["aborts"]["message"]  # it also died alone in a fresh worker, so it is to blame
    assert "SIGSEGV" in records["segfaults"]["message"]
    assert "code 3" in records["exits"]["message"]
    assert not journal_path(out).exists()

    cli_out, out = out, tmp_path / "pytest.json"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    result = pytester.runpytest_subprocess(
        "--pyargs", "opcoverage.conformance", "--opcov-targets", "torch:cpu", "--opcov-specs", str(FAULT_SPECS),
        "--opcov-cases", "*-s0", "--opcov-timeout", "8", "--opcov-jobs", "2", "--opcov-json", str(out), "-v",
        "-p", "no:cacheprovider", timeout=400)
    assert result.ret == 1  # failing cases fail their items; the session itself ran to its end
    result.stdout.fnmatch_lines(["*test_case?ok_neg-torch:cpu-float32-s0? PASSED*",
                                 "*test_case?segfaults-torch:cpu-float32-s0? FAILED*",
                                 "*crash: worker process died with SIGSEGV*",
                                 "*timeout: no result after 8 s*"])
    assert result.parseoutcomes()["passed"] == 2
    assert _statuses(out) == _statuses(cli_out)


def test_a_crash_that_does_not_recur_alone_is_not_blamed_on_its_case(tmp_path, spec_dir):
    folder = spec_dir("ops.toml", """
        [ok_identity]
        category = "fault"
        samples = "unary"
        dtypes = ["float32"]
        reference = "numpy.positive"
        torch = "tests.fault.ops.identity"

        [crashes_once]
        category = "fault"
        samples = "unary"
        dtypes = ["float32"]
        reference = "numpy.positive"
        torch = "tests.fault.ops.abort_first_time"
    """)
    out = tmp_path / "r.json"
    proc = _cli("run", "--specs", str(folder), "--targets", "torch:cpu", "--cases", "*-s0", "-j", "1",
                "--out", str(out), env={"OPCOV_FAULT_MARKER": str(tmp_path / "crashed")})
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    records = {r["op"]: r for r in json.loads(out.read_text())["results"]}
    assert (tmp_path / "crashed").exists()  # it did crash the first worker
    assert records["crashes_once"]["status"] == "pass"  # alone in a fresh worker it passes: its own verdict
    assert "SIGABRT" in records["crashes_once"]["extra"]["crashed_first"]
    assert "after 1 other case(s)" in records["crashes_once"]["extra"]["crashed_first"]
    assert records["ok_identity"]["status"] == "pass" and "crashed_first" not in records["ok_identity"].get("extra", {})

    from opcoverage.report.layout import Report
    from opcoverage.results import read

    report = Report(read(out), [out.name], "report").target_page("torch:cpu")
    assert "## Crashes that did not recur alone" in report and "`crashes_once-torch:cpu-float32-s0` | pass" in report


def test_run_killed_with_sigkill_resumes_to_the_same_verdicts(tmp_path):
    clean, killed = tmp_path / "clean.json", tmp_path / "killed.json"
    args = ["run", "--specs", str(SLOW_SPECS), "--targets", "torch:cpu", "-j", "1"]
    proc = _cli(*args, "--out", str(clean))
    assert proc.wait(timeout=400) == 0

    proc = _cli(*args, "--out", str(killed))
    journal = journal_path(killed)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 4:  # header + 3 results
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not killed.exists()
    recorded = journal.read_text().count("\n") - 1
    assert 3 <= recorded < len(_statuses(clean))

    proc = _cli(*args, "--out", str(killed), "--resume")
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err
    assert _statuses(killed) == _statuses(clean)
    assert list(_statuses(killed)) == list(_statuses(clean))  # plan order, whatever order cases finished in
    assert not journal.exists()


def test_resume_refuses_a_journal_of_another_run(tmp_path):
    out = tmp_path / "r.json"
    journal = Journal(journal_path(out), {"catalog": "abc", "seed": 1, "samples": "quick"})
    journal.start(resume=False)
    journal.close(remove=False)
    proc = _cli("run", "--specs", str(SLOW_SPECS), "--targets", "torch:cpu", "--ops", "add", "--out", str(out),
                "--resume")
    _, err = proc.communicate(timeout=200)
    assert proc.returncode == 2
    assert "cannot resume" in err and err.count("\n") == 1


def test_journal_drops_a_line_cut_short_by_a_kill(tmp_path):
    path = tmp_path / "j.jsonl"
    identity = {"catalog": "abc", "seed": 0, "samples": "quick"}
    journal = Journal(path, identity)
    journal.start(resume=False)
    journal.append(CaseResult("add", "torch:cpu", "float32", "s0", Status.PASS))
    journal.close(remove=False)
    with open(path, "a") as f:
        f.write('{"op": "add", "target": "torch:cpu", "dtype": "flo')
    done = Journal(path, identity).start(resume=True)
    assert [r.id for r in done] == ["add-torch:cpu-float32-s0"]
    assert path.read_text().endswith("\n")


def test_each_accelerator_gets_one_worker_beside_a_worker_per_core(fault_backend, spec_dir):
    """Targets run in lanes by kind of device: CPU targets share a worker per core, each other device one worker."""
    from opcoverage.execute.session import RunSession
    from opcoverage.options import RunConfig
    from tests.conftest import ADD_SPEC

    folder = spec_dir("ops.toml", ADD_SPEC)
    config = RunConfig(targets=["torch:cpu", "fault:ok", "fault:wrong"], specs=[str(folder)], timeout=60)
    session = RunSession(config)
    assert session.workers == {"cpu": os.cpu_count(), "ok": 1, "wrong": 1}
    assert RunSession(RunConfig(**{**config.__dict__, "jobs": 3})).workers == {"cpu": 3, "ok": 3, "wrong": 3}
    assert RunSession(RunConfig(**{**config.__dict__, "perf": True})).workers == {"perf": 1}

    results = session.run()
    assert len(results) == len(session.cases) == 3 * 2 * 2  # 3 targets x 2 dtypes x 2 samples
    status = {(r.target, r.dtype): r.status for r in results}
    assert status[("fault:ok", "float32")] is Status.PASS and status[("fault:wrong", "float32")] is Status.MISMATCH
    assert status[("torch:cpu", "float32")] is Status.PASS
    pids = {t: {r.extra["pid"] for r in results if r.target == t} for t in ("fault:ok", "fault:wrong")}
    assert all(len(p) == 1 for p in pids.values())  # one worker ran every case of its device
    assert pids["fault:ok"] != pids["fault:wrong"] and os.getpid() not in pids["fault:ok"] | pids["fault:wrong"]


@pytest.mark.parametrize("flag", ["-j 0", "--timeout -1"])
def test_bad_pool_options(flag, capsys):
    from opcoverage.cli import main

    assert main(["run", "--targets", "torch:cpu", *flag.split()]) == 2
    assert "must be" in capsys.readouterr().err


def test_results_file_in_a_missing_folder_is_bad_input(tmp_path, capsys):
    from opcoverage.cli import main

    out = tmp_path / "missing" / "r.json"
    assert main(["run", "--targets", "torch:cpu", "--ops", "add", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err and "Traceback" not in err
    assert not out.parent.exists()

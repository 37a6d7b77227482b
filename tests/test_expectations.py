"""Expected failures: the gate fails only on regressions, and flags stale and unmatched entries."""

from __future__ import annotations

import pytest

from opcoverage import expectations as exp
from opcoverage.errors import UsageError
from opcoverage.types import CaseResult, Status


def _r(op, dtype, status, target="torch:cpu"):
    return CaseResult(op, target, dtype, "s0", status)


def _write(tmp_path, text, name="torch-cpu.toml"):
    folder = tmp_path / "expect"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_gate_splits_expected_failures_regressions_and_stale(tmp_path):
    folder = _write(tmp_path, """
[[expected]]
op = "cumprod"
dtypes = ["float16"]
reason = "no Half kernel"
link = "https://example.org/issue/1"

[[expected]]
op = "add"
reason = "fixed upstream since"

[[expected]]
op = "typo_op"
reason = "matches nothing"
""")
    expectations = exp.load(folder)
    results = [_r("cumprod", "float16", Status.UNSUPPORTED), _r("cumprod", "float32", Status.ERROR),
               _r("add", "float32", Status.PASS), _r("mul", "float32", Status.PASS)]
    report = exp.gate(results, expectations)
    assert [r.dtype for r in report.regressions] == ["float32"]
    assert [e.op for _, e in report.expected] == ["cumprod"]
    assert [e.op for e in report.stale] == ["add"]
    assert [e.op for e in report.unmatched] == ["typo_op"]
    assert not report.ok


def test_status_narrows_an_expectation(tmp_path):
    folder = _write(tmp_path, '[[expected]]\nop = "add"\nstatus = "unsupported"\nreason = "r"\n')
    report = exp.gate([_r("add", "float32", Status.MISMATCH)], exp.load(folder))
    assert report.regressions  # a wrong result is not excused by an expected missing kernel


@pytest.mark.parametrize("text, fragment", [
    ('[[expected]]\nop = "add"\n', "needs an op and a reason"),
    ('[[expected]]\nop = "add"\nreason = "r"\nwhy = 1\n', "unknown key.s. why"),
    ('[[expected]]\nop = "add"\nreason = "r"\nstatus = "pass"\n', "not a failure status"),
    ("[[expected]\n", "not valid TOML"),
])
def test_bad_expectation_files(tmp_path, text, fragment):
    with pytest.raises(UsageError, match=fragment):
        exp.load(_write(tmp_path, text))


def test_file_names_must_name_a_target(tmp_path):
    with pytest.raises(UsageError, match="<framework>-<device>.toml"):
        exp.load(_write(tmp_path, "", name="torch.toml"))


def test_baseline_files_accept_exactly_todays_failures(tmp_path):
    results = [_r("cumprod", "float16", Status.UNSUPPORTED), _r("cumprod", "bfloat16", Status.UNSUPPORTED),
               _r("add", "float32", Status.MISMATCH, target="jax:cpu"), _r("add", "float32", Status.PASS)]
    folder = tmp_path / "expect"
    folder.mkdir()
    for name, text in exp.baseline(results).items():
        (folder / name).write_text(text)
    assert sorted(p.name for p in folder.iterdir()) == ["jax-cpu.toml", "torch-cpu.toml"]
    report = exp.gate(results, exp.load(folder))
    assert report.ok and len(report.expected) == 3 and not report.stale
    regressed = results + [_r("cumprod", "float32", Status.ERROR)]
    assert len(exp.gate(regressed, exp.load(folder)).regressions) == 1

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


def _m(op, mode, status, dtype="float32"):
    return CaseResult(op, "torch:cpu", dtype, "s0", status, mode=mode)


def test_an_entry_without_modes_is_about_forward_only_and_modes_widen_it(tmp_path):
    folder = _write(tmp_path, """
[[expected]]
op = "cumprod"
reason = "no kernel"

[[expected]]
op = "sort"
modes = ["grad", "compile:inductor"]
reason = "no backward; inductor lowers it wrong"

[[expected]]
op = "nonzero"
modes = ["*"]
reason = "data-dependent shape"
""")
    expectations = exp.load(folder)
    assert [e.modes for e in expectations] == [("forward",), ("grad", "compile"), ("*",)]
    assert [e.where for e in expectations] == ["torch:cpu", "torch:cpu/grad,compile", "torch:cpu/*"]
    results = [_m("cumprod", "forward", Status.UNSUPPORTED), _m("cumprod", "grad", Status.UNSUPPORTED),
               _m("sort", "forward", Status.ERROR), _m("sort", "grad", Status.ERROR),
               _m("sort", "compile", Status.MISMATCH),
               _m("nonzero", "forward", Status.ERROR), _m("nonzero", "compile:aot_eager", Status.FALLBACK)]
    report = exp.gate(results, expectations)
    # A failure only grad (or only forward) shows is not excused by an entry about the other mode.
    assert sorted(r.id for r in report.regressions) == ["cumprod-torch:cpu/grad-float32-s0",
                                                        "sort-torch:cpu-float32-s0"]
    assert len(report.expected) == 5 and not report.stale and not report.unmatched


def test_stale_and_unmatched_entries_are_judged_per_mode(tmp_path):
    folder = _write(tmp_path, """
[[expected]]
op = "sort"
modes = ["grad", "compile"]
reason = "r"

[[expected]]
op = "add"
modes = ["grad"]
reason = "fixed since"

[[expected]]
op = "mul"
modes = ["export"]
reason = "export was not run"

[[expected]]
op = "sub"
modes = ["*"]
reason = "fails in forward still"
""")
    results = [_m("sort", "grad", Status.ERROR), _m("sort", "compile", Status.PASS), _m("add", "grad", Status.PASS),
               _m("add", "forward", Status.PASS), _m("mul", "forward", Status.PASS), _m("sub", "forward", Status.ERROR),
               _m("sub", "grad", Status.PASS)]
    report = exp.gate(results, exp.load(folder))
    # sort still fails in grad, not in compile: the entry is stale in compile only, and says so.
    assert [(e.op, e.modes, e.where) for e in report.stale] == [("sort", ("compile",), "torch:cpu/compile"),
                                                               ("add", ("grad",), "torch:cpu/grad")]
    assert not report.unmatched  # no export case ran, so an export entry cannot be judged
    assert report.ok


@pytest.mark.parametrize("modes, fragment", [('["grda"]', "unknown mode 'grda'"), ('"grad"', "non-empty list"),
                                             ('[]', "non-empty list"), ('["vmap:x"]', "takes no variant")])
def test_bad_modes_in_an_entry(tmp_path, modes, fragment):
    with pytest.raises(UsageError, match=fragment):
        exp.load(_write(tmp_path, f'[[expected]]\nop = "add"\nmodes = {modes}\nreason = "r"\n'))


def test_baseline_writes_the_mode_of_each_failure_and_accepts_exactly_them(tmp_path):
    results = [_m("cumprod", "forward", Status.UNSUPPORTED), _m("sort", "grad", Status.ERROR),
               _m("sort", "grad", Status.ERROR, dtype="float64"), _m("sort", "forward", Status.PASS),
               _m("abs", "compile", Status.MISMATCH), _m("abs", "forward", Status.PASS)]
    [(name, text)] = exp.baseline(results).items()
    # Forward entries first, then each mode's under a comment naming it, in the order modes are defined.
    assert text.index('op = "cumprod"') < text.index("# grad mode") < text.index('op = "sort"') \
        < text.index("# compile mode") < text.index('op = "abs"')
    assert 'op = "sort"\nmodes = ["grad"]\ndtypes = ["float32", "float64"]' in text
    (tmp_path / "expect").mkdir()
    (tmp_path / "expect" / name).write_text(text)
    expectations = exp.load(tmp_path / "expect")
    assert [e.modes for e in expectations] == [("forward",), ("grad",), ("compile",)]
    report = exp.gate(results, expectations)
    assert report.ok and len(report.expected) == 4 and not report.stale
    assert exp.gate(results + [_m("cumprod", "grad", Status.ERROR)], expectations).regressions


def test_baseline_combines_runs_of_different_catalogs_the_last_file_winning(tmp_path):
    """The modes run of one catalog and the forward run of the next write one set of expectation files."""
    from opcoverage import results as res
    from opcoverage.cli import main

    env = {"opcoverage": "0", "python": "3.11", "os": "Linux", "cpu": "x", "frameworks": {}, "targets": {},
           "seed": 0, "samples": "quick"}
    modes_run = tmp_path / "modes.json"
    res.write(modes_run, res.ResultsFile({**env, "catalog": "old"}, (
        _r("erfc", "float32", Status.ERROR), CaseResult("erfc", "torch:cpu", "float32", "s0", Status.UNSUPPORTED,
                                                        mode="export"))))
    forward_run = tmp_path / "forward.json"
    res.write(forward_run, res.ResultsFile({**env, "catalog": "new"}, (_r("erfc", "float32", Status.PASS),
                                                                      _r("cumprod", "float16", Status.ERROR))))
    out = tmp_path / "expect"
    out.mkdir()
    assert main(["baseline", str(modes_run), str(forward_run), "--out", str(out)]) == 0
    entries = exp.load(out)
    assert {(e.op, e.modes) for e in entries} == {("cumprod", ("forward",)), ("erfc", ("export",))}

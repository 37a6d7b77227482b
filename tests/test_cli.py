"""The command line: run, report, merge and check end to end on the CPU targets, and bad input -> exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from opcoverage.cli import main
from tests.conftest import ADD_SPEC

TWO_OPS = ADD_SPEC + """
[relu]
category = "activation"
samples = "unary"
dtypes = ["float32", "bfloat16", "int64"]
reference = "numpy.exp"
torch = "torch.relu"
jax = "jax.nn.relu"
onnx = { op_type = "Relu" }
"""
# relu is deliberately given a wrong reference (exp(x) > max(x, 0) everywhere): every backend shows up as wrong.


@pytest.fixture
def specs(spec_dir):
    return str(spec_dir("ops.toml", TWO_OPS))


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_report_merge_roundtrip(specs, tmp_path, capsys):
    combined = tmp_path / "all.json"
    code, out, _ = _run(["run", "--specs", specs, "--targets", "torch:cpu,jax:cpu,onnxruntime:cpu",
                         "--out", str(combined)], capsys)
    assert code == 0
    data = json.loads(combined.read_text())
    statuses = {(r["op"], r["target"], r["dtype"], r["sample"]): r["status"] for r in data["results"]}
    assert statuses[("add", "torch:cpu", "float32", "s0")] == "pass"
    assert statuses[("relu", "jax:cpu", "float32", "s0")] == "mismatch"  # the reference is wrong on purpose
    assert data["environment"]["seed"] == 0 and "torch" in data["environment"]["frameworks"]

    shards = []
    for target in ("torch:cpu", "jax:cpu", "onnxruntime:cpu"):
        shard = tmp_path / f"{target.replace(':', '-')}.json"
        assert main(["run", "--specs", specs, "--targets", target, "--out", str(shard)]) == 0
        shards.append(str(shard))
    merged = tmp_path / "merged.json"
    assert main(["merge", *shards, "--out", str(merged)]) == 0
    report_one, report_merged = tmp_path / "one.md", tmp_path / "merged.md"
    assert main(["report", str(combined), "--out", str(report_one)]) == 0
    assert main(["report", str(merged), "--out", str(report_merged)]) == 0
    body = lambda p: p.read_text().split("\n", 3)[3]  # noqa: E731  (the first lines name the input files)
    # the same pages, up to the file names their links carry
    assert body(report_one).replace("](one", "](X") == body(report_merged).replace("](merged", "](X")
    for target in ("torch-cpu", "jax-cpu", "onnxruntime-cpu"):
        assert (body(tmp_path / f"one-{target}.md").replace("](one", "](X")
                == body(tmp_path / f"merged-{target}.md").replace("](merged", "](X"))
        assert (tmp_path / f"one-{target}.csv").read_text() == (tmp_path / f"merged-{target}.csv").read_text()
    capsys.readouterr()

    text = "".join(p.read_text() for p in sorted(tmp_path.glob("one*.md")))  # the index and the target pages
    assert "| `add`" in text and "| `relu`" in text
    assert "⚠️" in text  # relu's wrong results are flagged apart from missing kernels
    assert "opcoverage run --targets onnxruntime:cpu --ops relu --dtypes bfloat16" in text


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--targets", "torch:cuda"], "not available here"),
    (["run", "--targets", "nonsense"], "framework:device"),
    (["run", "--targets", "torch:cpu", "--ops", "addd"], "unknown op(s) addd"),
    (["run", "--targets", "torch:cpu", "--dtypes", "float8"], "unknown dtype(s) float8"),
    (["run", "--targets", "torch:cpu", "--cases", "nothing-*"], "select no case"),
    (["run", "--targets", "torch:cpu", "--seed", "x"], "expected an integer"),
    (["report", "missing.json"], "does not exist"),
    (["run", "--bogus"], "unrecognized arguments"),
])
def test_bad_input_is_one_line_and_exit_2(specs, tmp_path, capsys, argv, fragment):
    out_file = tmp_path / "never.json"
    if argv[0] == "run":
        argv = argv + ["--specs", specs, "--out", str(out_file)]
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out_file.exists()


def test_malformed_spec_file_exit_2(spec_dir, capsys):
    folder = spec_dir("broken.toml", "[add\n")
    code, _, err = _run(["run", "--specs", str(folder), "--targets", "torch:cpu"], capsys)
    assert code == 2 and "broken.toml" in err and "not valid TOML" in err


def test_check_gates_on_regressions_only(specs, tmp_path, capsys):
    results = tmp_path / "r.json"
    assert main(["run", "--specs", specs, "--targets", "torch:cpu", "--ops", "relu", "--out", str(results)]) == 0
    expect = tmp_path / "expect"
    expect.mkdir()
    (expect / "torch-cpu.toml").write_text('[[expected]]\nop = "relu"\ndtypes = ["float32"]\nreason = "r"\n')
    code, out, _ = _run(["check", str(results), "--expect", str(expect)], capsys)
    assert code == 1 and "REGRESSION relu-torch:cpu-int64" in out
    (expect / "torch-cpu.toml").write_text('[[expected]]\nop = "relu"\nreason = "wrong reference on purpose"\n')
    code, out, _ = _run(["check", str(results), "--expect", str(expect)], capsys)
    assert code == 0 and "0 regressions" in out


def test_console_entry_point_reports_errors_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "opcoverage", "run", "--targets", "torch:nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("opcoverage: error:") and "Traceback" not in proc.stderr


def test_targets_command_lists_cpu_targets(capsys):
    code, out, _ = _run(["targets", "--json"], capsys)
    listed = {t["target"]: t["available"] for t in json.loads(out)}
    assert code == 0
    assert listed["torch:cpu"] and listed["jax:cpu"] and listed["onnxruntime:cpu"]
    assert listed["torch:cuda"] is False

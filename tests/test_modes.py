"""The mode axis: ids, parsing, planning, and compile / export / vmap cases on the real torch and jax CPU targets."""

from __future__ import annotations

import json
import os

import pytest

from opcoverage.cli import main
from opcoverage.errors import UsageError
from opcoverage.modes import Mode, parse_modes
from opcoverage.types import CaseResult, Status, case_id

pytest.importorskip("torch")
pytest.importorskip("jax")

MODE_OPS = """
[sin]
category = "elementwise_unary"
samples = "unary"
dtypes = ["float32"]
reference = "numpy.sin"
torch = "torch.sin"
jax = "jax.numpy.sin"
onnx = { op_type = "Sin" }

[relu]
category = "activation"
samples = "unary"
dtypes = ["float32"]
reference = "opcoverage.catalog.references.activation.relu"
torch = "torch.relu"
jax = "jax.nn.relu"

[nonzero]
category = "indexing"
samples = "unary"
dtypes = ["float32"]
reference = "opcoverage.catalog.references.indexing.nonzero"
torch = "torch.nonzero"

[erfc]
category = "special"
samples = "unary"
dtypes = ["float32"]
reference = "scipy.special.erfc"
torch = "torch.erfc"
"""


def test_forward_ids_are_unchanged_and_other_modes_name_theirs():
    assert case_id("add", "torch:cpu", "float32", "s0") == "add-torch:cpu-float32-s0"
    assert case_id("add", "torch:cpu", "float32", "s0", "grad") == "add-torch:cpu/grad-float32-s0"
    record = CaseResult("add", "torch:cpu", "float32", "s0", Status.PASS, mode="compile:aot_eager")
    assert record.id == "add-torch:cpu/compile:aot_eager-float32-s0"
    assert record.column == "torch:cpu/compile:aot_eager"
    assert CaseResult.from_json({k: v for k, v in record.to_json().items()}).mode == "compile:aot_eager"
    old = {k: v for k, v in record.to_json().items() if k != "mode"}  # a results file from before modes
    assert CaseResult.from_json(old).id == "add-torch:cpu-float32-s0"


def test_mode_parsing():
    assert [str(m) for m in parse_modes("forward, grad,compile:inductor,compile:aot_eager,grad")] == \
        ["forward", "grad", "compile", "compile:aot_eager"]
    assert Mode.parse("compile").compile_backend == "inductor"
    with pytest.raises(UsageError, match="unknown mode 'jit'"):
        parse_modes("jit")
    with pytest.raises(UsageError, match="takes no variant"):
        parse_modes("grad:fast")


@pytest.mark.parametrize("modes, fragment", [("nope", "unknown mode 'nope'"),
                                             ("compile:no_such_backend", "unknown torch.compile backend")])
def test_bad_modes_are_one_line_and_exit_2(spec_dir, capsys, modes, fragment):
    specs = str(spec_dir("ops.toml", MODE_OPS))
    code = main(["run", "--specs", specs, "--targets", "torch:cpu", "--modes", modes])
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_modes_plan_only_where_they_apply(spec_dir, tmp_path, capsys):
    """grad is not planned on ONNX Runtime (no runtime gradient op), vmap not on torch, compile not on jax; the
    results file says why, and every planned (op, target, mode) has a verdict."""
    specs = str(spec_dir("ops.toml", MODE_OPS))
    out = tmp_path / "r.json"
    code = main(["run", "--specs", specs, "--targets", "torch:cpu,jax:cpu,onnxruntime:cpu", "--ops", "sin",
                 "--modes", "forward,grad,vmap,compile:eager", "--jobs", "1", "--out", str(out)])
    capsys.readouterr()
    assert code == 0
    data = json.loads(out.read_text())
    columns = {(r["target"], r["mode"]) for r in data["results"]}
    assert columns == {("torch:cpu", "forward"), ("jax:cpu", "forward"), ("onnxruntime:cpu", "forward"),
                       ("torch:cpu", "grad"), ("jax:cpu", "grad"), ("jax:cpu", "vmap"),
                       ("torch:cpu", "compile:eager")}
    skipped = data["environment"]["modes"]["not_applicable"]
    assert "no runtime gradient op" in skipped["onnxruntime:cpu/grad"]
    assert set(skipped) == {"onnxruntime:cpu/grad", "onnxruntime:cpu/vmap", "onnxruntime:cpu/compile:eager",
                            "torch:cpu/vmap", "jax:cpu/compile:eager"}
    assert {r["status"] for r in data["results"]} == {"pass"}


def test_compile_export_and_vmap_verdicts(spec_dir, tmp_path, capsys):
    """A graph break (an output shape that depends on data) is fallback with dynamo's reason; a torch.compile
    backend that miscompiles relu is mismatch with the eager op passing (a compiler bug); inductor compiles sin
    into one graph; an op torch.export leaves outside Core ATen is unsupported at the lower stage; vmap and jax
    export pass on sin."""
    specs = str(spec_dir("ops.toml", MODE_OPS))
    out = tmp_path / "r.json"
    inductor = "sin-torch:cpu/compile-float32-s0"  # one case of the default backend: its first compile takes ~15 s
    cases = ["*/compile:eager-*", "*/compile:relu_accuracy_error_TESTING_ONLY-*", "*/export-*", "*/vmap-*", inductor]
    code = main(["run", "--specs", specs, "--targets", "torch:cpu,jax:cpu", "--cases", ",".join(cases),
                 "--modes", "compile,compile:eager,compile:relu_accuracy_error_TESTING_ONLY,export,vmap",
                 "--jobs", "1", "--out", str(out)])
    capsys.readouterr()
    assert code == 0  # without --expect, failures are results, not a failed run
    by = {}
    for r in json.loads(out.read_text())["results"]:
        by.setdefault((r["op"], r["target"], r["mode"]), []).append(r)
    breaks = by[("nonzero", "torch:cpu", "compile:eager")]
    assert {r["status"] for r in breaks} == {"fallback"}
    assert all("graph break" in r["message"] and "depends on input Tensor data" in r["message"]
               and r["extra"]["stage"] == "graph_break" for r in breaks)
    wrong = by[("relu", "torch:cpu", "compile:relu_accuracy_error_TESTING_ONLY")]
    assert {r["status"] for r in wrong} == {"mismatch"} and {r["extra"]["eager"] for r in wrong} == {"pass"}
    assert {r["status"] for r in by[("sin", "torch:cpu", "compile:relu_accuracy_error_TESTING_ONLY")]} == {"pass"}
    non_core = by[("erfc", "torch:cpu", "export")]
    assert {r["status"] for r in non_core} == {"unsupported"}
    assert all(r["extra"]["stage"] == "lower" and "aten::erfc" in r["message"] for r in non_core)
    assert {r["status"] for r in by[("sin", "torch:cpu", "export")]} == {"pass"}
    for key in [("sin", "jax:cpu", "vmap"), ("relu", "jax:cpu", "vmap"), ("sin", "jax:cpu", "export")]:
        assert {r["status"] for r in by[key]} == {"pass"}, key
    exported = by[("sin", "jax:cpu", "export")][0]["extra"]["custom_calls"]
    assert set(exported) == {"cpu", "cuda", "rocm", "tpu"}
    [compiled] = by[("sin", "torch:cpu", "compile")]  # inductor: one graph, no ATen extern kernel, right values
    assert compiled["status"] == "pass" and compiled["extra"]["compile_backend"] == "inductor"
    assert compiled["extra"]["graphs"] == 1 and compiled["extra"]["extern_calls"] == 0



def test_inductor_cache_goes_to_opcov_cache_dir_unless_the_user_chose_one(tmp_path, monkeypatch):
    """torch writes its default folder into TORCHINDUCTOR_CACHE_DIR the first time it looks: that counts as unset,
    so compiled kernels land in OPCOV_CACHE_DIR (kept across runs, cached by CI); a folder the user chose stays."""
    from torch._inductor.runtime.runtime_utils import default_cache_dir

    from opcoverage.backends.torch_modes import configure_caches

    monkeypatch.setenv("OPCOV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())
    configure_caches()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "cache" / "inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    configure_caches()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")

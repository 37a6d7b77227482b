"""Model readiness: manifests from a user's factory, a zoo model, an ONNX file and a jax function; readiness
from results; whole-model validation on torch:cpu."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opcoverage.cli import main
from opcoverage.types import CaseResult, Status

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "src" / "opcoverage" / "schema" / "model-manifest.schema.json").read_text())


def _validate_schema(data: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, SCHEMA)


def _ops(data: dict, mode: str = "forward", section: str = "modes") -> dict[str, dict]:
    return {o["name"]: o for o in data[section][mode]["ops"]}


def _results(status_of: dict[str, Status], target: str = "torch:cpu") -> list[CaseResult]:
    return [CaseResult(op, target, "float32", "s0", status, message="" if status is Status.PASS else "boom")
            for op, status in status_of.items()]


def test_user_factory_gets_a_manifest_and_a_readiness_line(tmp_path, capsys):
    out = tmp_path / "mlp.json"
    assert main(["model", "tests.models.factories.tiny_mlp", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    _validate_schema(data)
    forward, train = _ops(data), _ops(data, "train")
    assert forward["aten::addmm"]["calls"] == 2 and forward["aten::addmm"]["catalog_op"] == "addmm"
    assert forward["aten::addmm"]["shapes"][0]["inputs"] == [[16], [3, 8], [8, 16]]
    assert forward["aten::relu"]["catalog_op"] == "relu"
    assert "aten::threshold_backward" in train and "aten::mm" in train  # the backward pass is traced too
    assert {o["name"] for o in data["exported"]["forward"]["ops"]} == {"Gemm", "Relu"}

    results = tmp_path / "r.json"
    from opcoverage import results as res

    records = _results({"addmm": Status.PASS, "relu": Status.PASS, "linear": Status.PASS})
    res.write(results, res.ResultsFile({"catalog": "x", "seed": 0, "samples": "quick"}, tuple(records)))
    capsys.readouterr()
    assert main(["model", "tests.models.factories.tiny_mlp", "--results", str(results)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tiny_mlp forward float32 on torch:cpu: ready, 100.0% of 5 op calls pass")
    assert lines[1].startswith("tiny_mlp train float32 on torch:cpu: unknown,")  # backward ops are not cataloged


def test_readiness_weights_calls_and_names_the_blocker():
    from opcoverage.models import Verdicts, build_manifest, readiness

    manifest = build_manifest("tests.models.factories.tiny_mlp", export_onnx=False)
    verdicts = Verdicts(_results({"addmm": Status.UNSUPPORTED, "relu": Status.PASS, "linear": Status.PASS}))
    r = readiness(manifest, verdicts, "torch:cpu", "forward")
    assert r.verdict == "blocked" and r.calls == 5 and r.passing == 3  # 2 addmm calls of 5
    assert [(b.name, b.verdict, b.calls) for b in r.blockers] == [("aten::addmm", "unsupported", 2)]
    wrong = readiness(manifest, Verdicts(_results({"addmm": Status.PASS, "relu": Status.MISMATCH,
                                                    "linear": Status.PASS})), "torch:cpu", "forward")
    assert wrong.verdict == "degraded" and wrong.blockers[0].verdict == "wrong"  # it runs, less accurately


def test_zoo_model_manifest():
    pytest.importorskip("transformers")
    from opcoverage.models import build_manifest

    data = build_manifest("distilbert").to_json()
    _validate_schema(data)
    forward = _ops(data)
    assert forward["aten::_scaled_dot_product_flash_attention_for_cpu"]["catalog_op"] == "scaled_dot_product_attention"
    assert forward["aten::native_layer_norm"]["catalog_op"] == "layer_norm"
    assert forward["aten::embedding"]["dtypes"] == ["float32", "int64"]
    assert data["modes"]["train"]["calls"] > data["modes"]["forward"]["calls"]
    assert "LayerNormalization" in _ops(data, section="exported")
    assert data["environment"]["parameters"] > 0


def test_onnx_file_and_jax_function_sources(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("jax")
    from opcoverage.models import build_manifest
    from opcoverage.models import torch_source
    from tests.models.factories import tiny_mlp

    path = tmp_path / "mlp.onnx"
    path.write_bytes(torch_source.onnx_export(tiny_mlp, "float32"))
    onnx_ops = _ops(build_manifest(str(path)).to_json())
    assert onnx_ops["Gemm"]["calls"] == 2 and onnx_ops["Gemm"]["opset"] == torch_source.ONNX_EXPORT_OPSET
    assert onnx_ops["Relu"]["catalog_op"] == "relu"

    jax_data = build_manifest("tests.models.factories.jax_mlp").to_json()
    forward = _ops(jax_data)
    assert forward["dot_general"]["shapes"][0]["inputs"] == [[2, 8], [8, 4]]
    assert forward["tanh"]["catalog_op"] == "tanh"
    assert "jit" not in forward and len(jax_data["modes"]["train"]["ops"]) > len(forward)


def test_validate_on_torch_cpu(tmp_path, capsys):
    out = tmp_path / "v.json"
    assert main(["model", "tests.models.factories.tiny_mlp", "--validate", "--targets", "torch:cpu",
                 "--out", str(out)]) == 0
    records = {r["mode"]: r for r in json.loads(out.read_text())["validations"]}
    assert records["forward"]["observed"] == "runs" and 0 < records["forward"]["drift"] < 1e-5
    assert records["train"]["observed"] == "runs" and records["train"]["drift"] < 1e-5

    from opcoverage.models import validate_torch_model
    from tests.models.factories import no_float32

    failed = validate_torch_model("picky", no_float32, "torch:cpu", "forward", "float32")
    assert failed.observed == "fails" and "no float32 kernel" in failed.message


def test_validation_judges_drift_against_an_ideal_run_of_the_dtype():
    """A float16 path inside a float32 model drifts by about 1e-3: within any fixed float32 tolerance a model-level
    check could afford, but far beyond an ideal float32 backend (each op rounded once), so it is wrong."""
    import torch

    from opcoverage.models import validate as v
    from opcoverage.models.emulate import rounding_mode
    from tests.models.factories import half_inside, tiny_mlp

    with rounding_mode("float16"):  # each op's result rounded once to float16, kept in float64
        third = torch.tensor([1.0], dtype=torch.float64) / 3
    assert third.dtype == torch.float64 and third.item() == float(torch.tensor(1 / 3).half())

    narrow = v.validate_torch_model("narrow", half_inside, "torch:cpu", "forward", "float32")
    assert narrow.observed == "wrong" and 1e-4 < narrow.drift < 1e-2, narrow
    assert narrow.drift > 100 * narrow.ideal_drift and "as far as an ideal float32 run" in narrow.message
    fine = v.validate_torch_model("tiny_mlp", tiny_mlp, "torch:cpu", "train", "float16")
    assert fine.observed == "runs" and 0 < fine.ideal_drift and fine.drift <= fine.tolerance, fine


def test_validate_jax_function_on_jax_cpu():
    pytest.importorskip("jax")
    from opcoverage.models.validate import validate_jax_model
    from tests.models.factories import jax_mlp

    ran = validate_jax_model("jax_mlp", jax_mlp, "jax:cpu", "train", "float32")
    assert ran.observed == "runs" and ran.drift is not None and ran.drift < 1e-3
    assert validate_jax_model("jax_mlp", jax_mlp, "torch:cpu", "forward", "float32").observed == "n/a"


def test_bad_model_reference_is_one_line(capsys):
    assert main(["model", "no_such_model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no zoo model 'no_such_model'" in err[0] and "resnet" in err[0]
    assert main(["model", "tests.models.factories.nothing_here"]) == 2
    assert "cannot import model factory" in capsys.readouterr().err


def test_perf_times_ops_at_the_models_shapes():
    from opcoverage.models import build_manifest
    from opcoverage.models.perf import render, time_model

    manifest = build_manifest("tests.models.factories.tiny_mlp", export_onnx=False)
    times = {t.name: t for t in time_model(manifest, ["torch:cpu"], budget_per_op_s=0.02)}
    assert times["aten::addmm"].inputs == ((16,), (3, 8), (8, 16)) and times["aten::addmm"].median_s > 0
    assert times["aten::relu"].median_s > 0 and "aten::t" not in times  # t is judged by linear, not timed as it
    assert "`aten::addmm`" in render(list(times.values()), "tiny_mlp")

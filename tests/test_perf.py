"""Perf: timing statistics on a synthetic callable, cost model numbers, perf shapes, and a tiny real --perf run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import numpy as np
import pytest

from opcoverage.backends.base import ArrayInfo
from opcoverage.catalog.spec import CallBinding, OpSpec, SampleSpec
from opcoverage.errors import UsageError
from opcoverage.perf import shapes
from opcoverage.perf.cost import cost_of
from opcoverage.perf.roofline import Roofline, attainment
from opcoverage.perf.timing import measure, quantile
from opcoverage.report.perf import render_perf
from opcoverage.results import SCHEMA_PATH
from opcoverage.types import CaseResult, Sample, Status
from tests.conftest import ADD_SPEC

RELU_SPEC = """
[relu]
category = "activation"
samples = "unary"
dtypes = ["float32"]
reference = "opcoverage.catalog.references.activation.relu"
torch = "torch.relu"
jax = "jax.nn.relu"
onnx = { op_type = "Relu" }
"""


class FakeClock:
    """A clock that only moves when the timed call runs: each call takes the next of ``durations`` (cycled)."""

    def __init__(self, durations):
        self.now, self.durations, self.calls = 0.0, list(durations), 0

    def __call__(self) -> float:
        return self.now

    def call(self) -> None:
        self.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1


def test_timing_median_iqr_and_block_size_on_a_synthetic_callable():
    clock = FakeClock([2e-6])
    timing = measure(clock.call, budget_s=0.05, clock=clock)
    assert timing.median_s == pytest.approx(2e-6) and timing.iqr_s == pytest.approx(0.0)
    assert 500 <= timing.number <= 501  # blocks of at least 1 ms: the clock's own cost is then negligible
    assert not timing.noisy and timing.reps >= 3
    assert timing.spent_s == pytest.approx(0.05, rel=0.05)


def test_timing_flags_noise_and_keeps_min_reps_past_the_budget():
    clock = FakeClock([1e-3, 1e-3, 3e-3])  # one slow call in three, blocks of one call
    timing = measure(clock.call, budget_s=0.0, warmup_s=0.0, clock=clock, min_reps=9)
    assert timing.reps == 9 and timing.number == 1
    times = sorted([1e-3, 3e-3, 1e-3] * 3)  # the first call is the warm-up, so blocks start one further on
    assert timing.median_s == pytest.approx(np.percentile(times, 50))
    assert timing.iqr_s == pytest.approx(np.percentile(times, 75) - np.percentile(times, 25))
    assert timing.noisy  # IQR/median = 2 > 10%
    assert timing.best_s == pytest.approx(1e-3)


def test_quantile_matches_numpy():
    values = sorted(np.random.default_rng(0).random(11).tolist())
    for q in (0.25, 0.5, 0.75):
        assert quantile(values, q) == pytest.approx(np.percentile(values, 100 * q))


def _info(shape, dtype="float32", view=False):
    return ArrayInfo(tuple(shape), dtype, int(np.prod(shape)) * np.dtype(dtype).itemsize, view)


def test_cost_model_numbers():
    m, k, n = 64, 128, 32
    mm = cost_of("matmul", "linalg", [_info((m, k)), _info((k, n))], [_info((m, n))])
    assert mm.flops == 2 * m * n * k
    assert mm.bytes_read == 4 * (m * k + k * n) and mm.bytes_written == 4 * m * n
    add = cost_of("add", "elementwise_binary", [_info((1000,)), _info((1000,))], [_info((1000,))])
    assert (add.bytes, add.flops) == (3 * 4000, 1000)
    addmm = cost_of("addmm", "linalg", [_info((n,)), _info((m, k)), _info((k, n))], [_info((m, n))])
    assert addmm.flops == 2 * m * n * k  # the contraction is over mat1's last dim, not the bias's
    conv = cost_of("conv2d", "convolution", [_info((2, 3, 8, 8)), _info((4, 3, 3, 3))], [_info((2, 4, 6, 6))])
    assert conv.flops == 2 * (2 * 4 * 6 * 6) * (3 * 3 * 3)
    chol = cost_of("linalg_cholesky", "linalg", [_info((5, 30, 30), "float64")], [_info((5, 30, 30), "float64")])
    assert chol.flops == 5 * 30 ** 3 // 3
    view = cost_of("reshape", "shape", [_info((4, 6))], [_info((24,), view=True)])
    assert (view.bytes, view.flops) == (0, 0)


def test_attainment_separates_memory_compute_and_cache():
    roof = Roofline("torch:cpu", 2, llc_bytes=1 << 20, bandwidth_gb_s=10.0, kernels_gb_s={"sum": 10.0},
                    matmul_gflop_s={"float32": 100.0})
    big_add = cost_of("add", "elementwise_binary", [_info((1 << 20,))] * 2, [_info((1 << 20,))])
    percent, bound = attainment(big_add, big_add.bytes / 5e9, roof, "elementwise_binary", "float32")  # 5 GB/s
    assert bound == "memory" and percent == pytest.approx(50.0)
    small_add = cost_of("add", "elementwise_binary", [_info((100,))] * 2, [_info((100,))])
    assert attainment(small_add, 1e-6, roof, "elementwise_binary", "float32") == (None, "cache")
    mm = cost_of("matmul", "linalg", [_info((512, 512))] * 2, [_info((512, 512))])
    percent, bound = attainment(mm, mm.flops / 25e9, roof, "linalg", "float32")  # 25 of 100 GFLOP/s
    assert bound == "compute" and percent == pytest.approx(25.0)
    percent, _ = attainment(mm, mm.flops / 25e9, roof, "linalg", "int32")  # integers: held to float32's roof
    assert percent == pytest.approx(25.0)


def _spec(name, family, category, reference, torch_call, params=None):
    return OpSpec(name, category, SampleSpec(family, params or {}), ("float32",), CallBinding(reference),
                  {"torch": CallBinding(torch_call)})


def test_scaling_keeps_broadcasting_and_values_and_reads_growth_from_the_reference():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    sample = Sample("add", "float32", 0, (x, np.ones((1, 3), np.float32)), {}, "", 0)
    scaled = shapes.scale_sample(sample, 5, "uniform")
    assert [a.shape for a in scaled.args] == [(20, 15), (1, 15)]
    assert set(np.unique(scaled.args[0])) <= set(np.unique(x))  # values repeat the declared ones
    batch = shapes.scale_sample(Sample("conv", "float32", 0, (np.ones((2, 3, 5)), np.ones((4, 3, 3))), {}, "", 0),
                                3, "batch")
    assert [a.shape for a in batch.args] == [(6, 3, 5), (4, 3, 3)]  # only the batch of the first input grows
    add = _spec("add", "binary", "elementwise_binary", "numpy.add", "torch.add")
    same = Sample("add", "float32", 0, (x, x), {}, "", 0)
    assert shapes.growth_exponent(add, same, "uniform", [4]) == pytest.approx(2.0)  # 2-D in, 2-D out
    kron = Sample("kron", "float32", 0, (np.ones((3, 4), np.float32), np.ones((2, 5), np.float32)), {}, "", 0)
    spec = _spec("kron", "tensors", "linalg", "numpy.kron", "torch.kron")
    assert shapes.growth_exponent(spec, kron, "uniform", [4]) > 3.5  # the output grows as f**4: known up front
    assert shapes.scale_plan(_spec("reshape", "tensors", "shape", "numpy.reshape", "torch.reshape")).mode is None
    assert shapes.grid_floor(300) == 256 and shapes.grid_floor(1.5) == 1


def test_a_backend_that_cannot_be_timed_gets_an_error_record_not_an_exception():
    from opcoverage.perf import PerfConfig, measure_case

    class NoPrepare:
        framework = "plain"

    spec = _spec("add", "binary", "elementwise_binary", "numpy.add", "torch.add")
    sample = Sample("add", "float32", 0, (np.ones((4, 33), np.float32),) * 2, {}, "", 0)
    record = measure_case(spec, sample, NoPrepare(), "cpu", PerfConfig())
    assert "has no prepare()" in record["error"]


def _perf_result(target, op, median, shapes_, category_bytes=4000, small=1e-5):
    perf = {"shapes": shapes_, "median_s": median, "iqr_s": 0.0, "noisy": False, "reps": 5, "first_call_s": 0.01,
            "bytes": category_bytes, "flops": 1000, "gb_s": category_bytes / median / 1e9, "gflop_s": 1.0,
            "roofline_pct": 50.0, "bound": "memory", "threads": 2, "scale": {"mode": "uniform", "factor": 8},
            "roofline": {"bandwidth_gb_s": 10.0, "peak_gflop_s": 50.0, "peak_dtype": "float32", "llc_bytes": 1 << 25},
            "small": {"shapes": [[4, 33]], "median_s": small, "iqr_s": 0.0, "noisy": False}}
    return CaseResult(op, target, "float32", "s0", Status.PASS, perf=perf)


def test_report_ratios_use_the_geometric_mean_per_category():
    results = [_perf_result("torch:cpu", "add", 1e-3, [[8, 8]]), _perf_result("torch:cpu", "mul", 1e-3, [[8, 8]]),
               _perf_result("jax:cpu", "add", 2e-3, [[8, 8]]), _perf_result("jax:cpu", "mul", 8e-3, [[8, 8]])]
    text = "\n".join(render_perf(results, {"categories": {"add": "elementwise_binary", "mul": "elementwise_binary"}}))
    assert "## Performance" in text and "### Roofline" in text and "### Cross-target ratios on cpu" in text
    assert "over the time on `torch:cpu`" in text
    summary = next(line for line in text.splitlines() if line.startswith("| elementwise_binary"))
    assert "| 4 " in summary and "| 2/2 " in summary  # geometric mean of 2x and 8x, over two pairs


def test_perf_options_reach_the_run_config_from_the_cli_and_pytest():
    from opcoverage.cli import build_parser
    from opcoverage.options import add_pytest_options, from_argparse, from_pytest

    config = from_argparse(build_parser().parse_args(["run", "--perf", "--perf-budget", "30", "--perf-threads", "1"]))
    assert (config.perf, config.perf_budget, config.perf_threads) == (True, 30.0, 1)
    assert from_argparse(build_parser().parse_args(["run"])).perf is False

    class Group:  # what pytest's option group records, and what its config hands back
        def __init__(self):
            self.options = {}

        def addoption(self, flag, dest, **kwargs):
            self.options[flag] = (dest, kwargs)

    group = Group()
    add_pytest_options(group)
    dest, kwargs = group.options["--opcov-perf"]
    assert kwargs["action"] == "store_true"  # a flag, as on the command line: no value follows it
    values = {dest: True, group.options["--opcov-perf-budget"][0]: "5"}
    config = from_pytest(type("Config", (), {"getoption": lambda self, name: values.get(name)})())
    assert config.perf and config.perf_budget == 5.0
    with pytest.raises(UsageError, match="--perf-budget must be positive"):
        from_argparse(build_parser().parse_args(["run", "--perf-budget", "0"]))


def test_tiny_real_perf_run_on_torch_cpu(spec_dir, tmp_path):
    """The CLI end to end: two ops, one dtype, a small budget; the records, the environment and the report."""
    specs = str(spec_dir("ops.toml", ADD_SPEC + RELU_SPEC))
    out, report = tmp_path / "perf.json", tmp_path / "perf.md"
    env = dict(os.environ, OPCOV_LLC_BYTES=str(1 << 20))  # a 1 MiB "cache": the beyond-cache shape stays cheap
    command = [sys.executable, "-m", "opcoverage", "run", "--specs", specs, "--targets", "torch:cpu", "--dtypes",
               "float32", "--perf", "--perf-budget", "1", "--out", str(out)]
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=240)
    data = json.loads(out.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    timed = {r["op"]: r["perf"] for r in data["results"] if r.get("perf")}
    assert set(timed) == {"add", "relu"}  # once per op and dtype: s0 only
    assert all("perf" not in r for r in data["results"] if r["sample"] != "s0")
    for perf in timed.values():
        assert "error" not in perf, perf
        for key in ("shapes", "median_s", "iqr_s", "first_call_s", "gb_s", "gflop_s", "roofline_pct", "threads"):
            assert key in perf
        assert perf["median_s"] > 0 and perf["first_call_s"] > 0 and perf["small"]["median_s"] > 0
        assert perf["bytes"] > 1 << 20  # the perf shape's working set exceeds the (1 MiB) LLC
    add = timed["add"]
    assert add["shapes"][0] == add["shapes"][1] and add["scale"]["mode"] == "uniform"
    assert add["bytes"] == 3 * 4 * int(np.prod(add["shapes"][0]))
    assert data["environment"]["roofline"]["torch:cpu"]["bandwidth_gb_s"] > 0
    from opcoverage.cli import main

    assert main(["report", str(out), "--out", str(report)]) == 0
    text = (tmp_path / "perf-torch-cpu.md").read_text()  # the target's page holds its perf tables
    assert "## Performance" in text and "### Roofline" in text and "perf table" in text


def test_perf_at_a_models_shapes(tmp_path, capsys):
    """--shapes-from runs only the ops the model calls under their own names, timed at the model's input shapes,
    and the report says where each target's time goes."""
    from opcoverage.cli import main

    out = tmp_path / "shapes.json"
    env = dict(os.environ, OPCOV_LLC_BYTES=str(1 << 20))  # a 1 MiB "cache": the roofline's buffers stay small
    subprocess.run([sys.executable, "-m", "opcoverage", "run", "--targets", "torch:cpu", "--dtypes", "float32",
                    "--perf", "--perf-budget", "1", "--shapes-from", "tests.models.factories.tiny_mlp", "--jobs", "1",
                    "--out", str(out)], check=True, env=env, capture_output=True, timeout=240)
    data = json.loads(out.read_text())
    jsonschema.validate(data, json.loads(SCHEMA_PATH.read_text()))
    assert {r["op"] for r in data["results"]} == {"addmm", "relu"}  # tiny_mlp: Linear -> addmm, ReLU -> relu
    perf = {r["op"]: r["perf"] for r in data["results"] if r.get("perf")}
    assert perf["addmm"]["at_model"] == [{"model": "tiny_mlp", "op": "aten::addmm", "inputs": [[16], [3, 8], [8, 16]],
                                          "calls": 2, "median_s": perf["addmm"]["median_s"]}]
    assert perf["addmm"]["shapes"] == [[16], [3, 8], [8, 16]] and perf["relu"]["shapes"] == [[3, 16]]
    report = tmp_path / "shapes.md"
    assert main(["report", str(out), "--out", str(report)]) == 0
    text = report.read_text()
    assert "## Time at the models' shapes" in text and "| `aten::addmm` | float32 | 2 | [16] [3, 8] [8, 16] |" in text
    capsys.readouterr()
    assert main(["run", "--targets", "torch:cpu", "--shapes-from", "tiny"]) == 2  # it needs --perf
    assert "needs --perf" in capsys.readouterr().err

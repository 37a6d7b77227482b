"""Collectives on real torch.distributed process groups: gloo's verdicts per dtype, a dead rank and a hung rank."""

from __future__ import annotations

import json

import pytest

from opcoverage.cli import main

pytest.importorskip("torch.distributed")

SPEC = """
[dist_all_reduce_sum]
category = "collective"
samples = { family = "collective", kwargs = { op = "sum" } }
dtypes = ["float32", "bfloat16", "int16", "bool"]
reference = "opcoverage.catalog.references.collectives.all_reduce"
torch_dist = "opcoverage.catalog.adapters.collectives.all_reduce"

[dist_all_to_all]
category = "collective"
samples = { family = "collective" }
dtypes = ["float32"]
reference = "opcoverage.catalog.references.collectives.all_to_all"
torch_dist = "opcoverage.catalog.adapters.collectives.all_to_all"

[rank_dies]
category = "collective"
samples = { family = "collective", world_sizes = [2] }
dtypes = ["float32"]
reference = "opcoverage.catalog.references.collectives.barrier"
torch_dist = "tests.fault.ops.rank1_segfaults"

[rank_hangs]
category = "collective"
samples = { family = "collective", world_sizes = [2] }
dtypes = ["float32"]
reference = "opcoverage.catalog.references.collectives.barrier"
torch_dist = "tests.fault.ops.rank1_hangs"

[after_the_faults]
category = "collective"
samples = { family = "collective", world_sizes = [2] }
dtypes = ["int32"]
reference = "opcoverage.catalog.references.collectives.broadcast"
torch_dist = "opcoverage.catalog.adapters.collectives.broadcast"
"""


def test_gloo_collectives_dead_and_hung_ranks(spec_dir, tmp_path, capsys):
    out = tmp_path / "dist.json"
    code = main(["run", "--specs", str(spec_dir("dist.toml", SPEC)), "--targets", "torch_dist:gloo", "-j", "1",
                 "--timeout", "20", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    records = {(r["op"], r["dtype"], r["sample"]): r for r in json.loads(out.read_text())["results"]}
    status = {k: r["status"] for k, r in records.items()}
    for world in ("s0", "s1"):  # world sizes 2 and 4
        assert status[("dist_all_reduce_sum", "float32", world)] == "pass"
        assert status[("dist_all_reduce_sum", "bfloat16", world)] == "pass"
        assert status[("dist_all_reduce_sum", "bool", world)] == "pass"  # a logical OR, as written down
        assert status[("dist_all_to_all", "float32", world)] == "pass"  # the list form works on gloo
        assert status[("dist_all_reduce_sum", "int16", world)] == "unsupported"
        assert "Invalid scalar type" in records[("dist_all_reduce_sum", "int16", world)]["message"]
    dead = records[("rank_dies", "float32", "s0")]
    assert dead["status"] == "crash" and "rank 1 of 2 died (signal SIGSEGV)" in dead["message"]
    hung = records[("rank_hangs", "float32", "s0")]
    assert hung["status"] == "timeout"
    assert status[("after_the_faults", "int32", "s0")] == "pass"  # a fresh group after the dead and the hung one


def test_jax_collectives_on_four_host_devices(tmp_path, capsys):
    pytest.importorskip("jax")
    out = tmp_path / "jax.json"
    code = main(["run", "--targets", "jax_dist:host", "--ops", "dist_all_reduce_sum,dist_reduce_scatter,dist_all_to_all",
                 "--dtypes", "float32,bool", "--cases", "*-s1", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    records = {(r["op"], r["dtype"]): r for r in json.loads(out.read_text())["results"]}
    assert records[("dist_all_to_all", "float32")]["status"] == "pass"
    assert records[("dist_all_reduce_sum", "float32")]["extra"]["world_size"] == 4
    assert records[("dist_all_reduce_sum", "float32")]["status"] == "pass"
    # psum counts the True values where the catalog (and gloo) define a bool SUM as a logical OR
    assert records[("dist_all_reduce_sum", "bool")]["status"] == "mismatch"
    assert "dtype int32, expected bool" in records[("dist_all_reduce_sum", "bool")]["message"]
    assert records[("dist_reduce_scatter", "bool")]["status"] == "error"

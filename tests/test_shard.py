"""Shards: `run --shard K/N` slices are deterministic, balanced and disjoint, and merged they equal one run."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opcoverage import results as res
from opcoverage.catalog.loader import load_catalog
from opcoverage.errors import UsageError
from opcoverage.execute.runner import plan_cases
from opcoverage.execute.shard import Shard, case_cost, parse, select
from opcoverage.types import Target

ROOT = Path(__file__).resolve().parents[1]
OPS = "add,mul,neg,exp,sum,matmul,relu,where"
TARGETS = ["torch:cpu", "onnxruntime:cpu"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "opcoverage", *args], env={**os.environ, "PYTHONPATH": path},
                          capture_output=True, text=True, timeout=300)


def test_the_slices_of_the_whole_catalog_are_disjoint_complete_and_balanced():
    targets = [Target.parse(t) for t in ("torch:cpu", "jax:cpu", "onnxruntime:cpu")]
    cases = plan_cases(load_catalog(None), targets)
    slices = [select(cases, Shard(k, 4)) for k in range(1, 5)]
    ids = [[c.id for c in mine] for mine, _ in slices]
    assert sorted(i for part in ids for i in part) == sorted(c.id for c in cases)
    assert len({i for part in ids for i in part}) == len(cases)
    costs = [sum(case_cost(c) for c in mine) for mine, _ in slices]
    assert max(costs) < 1.05 * min(costs)  # greedy by op, costliest first
    # Deterministic: the same plan gives the same slices (nothing depends on hashing or the machine).
    again = select(list(reversed(cases)), Shard(3, 4))[0]
    assert sorted(c.id for c in again) == sorted(ids[2])
    assert {r["plan"] for _, r in slices} == {slices[0][1]["plan"]}


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "2/0"])
def test_a_bad_shard_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--shard"):
        parse(text)


def _in_process(tmp_path: Path, name: str, shard: str | None = None) -> Path:
    """A run's results file, its cases run in this process (the pytest form), to keep the test quick."""
    from opcoverage.execute.session import RunSession
    from opcoverage.options import RunConfig

    session = RunSession(RunConfig(targets=TARGETS, ops=OPS.split(","), shard=parse(shard) if shard else None))
    out = tmp_path / f"{name}.json"
    res.write(out, session.results_file([session.run_one(c) for c in session.cases]))
    return out


def test_four_shards_merged_equal_one_run_and_merge_says_what_is_missing_or_overlapping(tmp_path):
    whole = _in_process(tmp_path, "whole")
    parts = [str(_in_process(tmp_path, f"shard{k}", f"{k}/4")) for k in range(1, 5)]
    # The CLI takes the same slice in its worker pool.
    cli_part = tmp_path / "cli2.json"
    proc = _cli("run", "--targets", ",".join(TARGETS), "--ops", OPS, "--shard", "2/4", "-j", "1",
                "--out", str(cli_part))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(cli_part.read_text())["environment"]["shard"]["index"] == 2
    assert [r.id for r in res.read(cli_part).results] == [r.id for r in res.read(parts[1]).results]

    merged = tmp_path / "merged.json"
    proc = _cli("merge", *parts, "--out", str(merged))
    assert proc.returncode == 0, proc.stderr

    def verdicts(path):
        return {r.id: (r.status, r.message) for r in res.read(path).results}

    assert len(verdicts(whole)) > 40 and verdicts(merged) == verdicts(whole)
    env = res.read(merged).environment
    assert [s["index"] for s in env["shards"]] == [1, 2, 3, 4] and "shard" not in env

    proc = _cli("merge", parts[0], parts[1], parts[3], "--out", str(tmp_path / "gap.json"))
    assert proc.returncode == 2 and "missing shard(s) 3/4" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "gap.json").exists()
    proc = _cli("merge", *parts, parts[1], "--out", str(tmp_path / "twice.json"))
    assert proc.returncode == 2 and "shard 2/4 is given twice" in proc.stderr
    proc = _cli("merge", *parts, str(whole), "--out", str(tmp_path / "mixed.json"))
    assert proc.returncode == 2 and "a whole run, with shards" in proc.stderr


def test_overlapping_shards_are_named_case_by_case():
    from opcoverage.execute.shard import check_shards

    records = [("a.json", {"index": 1, "count": 2, "plan": "p", "cases": 2, "planned": 3}),
               ("b.json", {"index": 2, "count": 2, "plan": "p", "cases": 1, "planned": 3})]
    with pytest.raises(UsageError, match=r"1 cases are in more than one shard, e\.g\. x-torch:cpu-float32-s0 \(a\.json, b\.json\)"):
        check_shards(records, {"a.json": ["x-torch:cpu-float32-s0", "y"], "b.json": ["x-torch:cpu-float32-s0"]})


def test_pytest_takes_the_same_slice_with_opcov_shard(pytester):
    def collected(*extra: str) -> set[str]:
        result = pytester.runpytest_subprocess("--pyargs", "opcoverage.conformance", "--opcov-targets", "torch:cpu",
                                               "--opcov-ops", "add,mul,neg,exp", "--collect-only", "-q",
                                               "-p", "no:cacheprovider", *extra)
        assert result.ret == 0, result.stdout.str()
        return {m.group(1) for line in result.stdout.lines if (m := re.search(r"test_case\[(.+)\]", line))}

    cases = plan_cases(load_catalog(None), [Target.parse("torch:cpu")], ["add", "mul", "neg", "exp"])
    first = collected("--opcov-shard", "2/3")
    assert first == {c.id for c in select(cases, Shard(2, 3))[0]}  # the CLI's slice
    assert 0 < len(first) < len(cases)


def test_a_case_costs_by_its_mode_too():
    """A torch.compile case costs about a second of C++ compile, a forward torch case under a millisecond: shards
    balance the modes' real costs, and a mode not listed is assumed as dear as compile."""
    from opcoverage.execute.runner import Case
    from opcoverage.execute.shard import case_cost
    from opcoverage.modes import Mode
    from opcoverage.types import Target

    def cost(target, mode):
        return case_cost(Case("add", Target.parse(target), "float32", "s0", "", mode=Mode.parse(mode)))

    assert cost("torch:cpu", "compile") > cost("torch:cpu", "export") > cost("torch:cpu", "grad") > \
        cost("torch:cpu", "forward")
    assert cost("jax:cpu", "vmap") > cost("jax:cpu", "forward")
    assert cost("torch:cpu", "compile:aot_eager") == cost("torch:cpu", "compile")

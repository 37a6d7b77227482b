"""Execution, shards: a deterministic, cost-balanced slice K/N of the planned cases (`run --shard K/N`).

The slice depends only on the plan (op names, targets, dtypes and samples), never on the machine, the clock or
Python's string hashing, so every job of a CI matrix computes the same split. An op's cases stay together (one
op's compile caches and sessions are shared), and ops are dealt out greedily, the costliest first, each to the
shard with the least cost so far (longest-processing-time scheduling: within 4/3 of the best balance).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from opcoverage.errors import UsageError

# Relative cost of one case by framework, from the mean case time of the whole-catalog CPU run in
# reports/results-cpu.json (torch 0.75 ms, ONNX Runtime 2.0 ms, JAX 78 ms: a jit compile per case). A framework
# not listed costs as much as the dearest: an unknown compiler is assumed slow rather than fast.
CASE_COST = {"torch": 1.0, "onnxruntime": 2.5, "jax": 100.0}
UNKNOWN_COST = max(CASE_COST.values())
# How much dearer a case is in another mode than forward, per framework: the mean case time (duration_s) of the
# whole-catalog mode runs on the CPU (reports/results-modes-cpu.json, 2 workers on 2 shared cores) over the forward
# means above: torch grad 2.3 ms, export 550 ms (torch.export's run_decompositions), compile 1.66 s (inductor's
# codegen and C++ compile, cold); jax grad 204 ms, vmap 144 ms, export 326 ms (four platforms lowered). A mode
# not listed costs as compile: an unknown compiler is assumed slow.
MODE_FACTOR = {("torch", "grad"): 3.0, ("torch", "compile"): 2200.0, ("torch", "export"): 730.0,
               ("jax", "grad"): 2.6, ("jax", "vmap"): 1.8, ("jax", "export"): 4.2}


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as written on the command line
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse(text: Any) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match:
        raise UsageError(f"--shard expects K/N such as 2/4 (the K-th of N slices), got {text!r}")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: K must be between 1 and N")
    return Shard(index, count)


def case_cost(case: Any) -> float:
    forward = CASE_COST.get(case.target.framework, UNKNOWN_COST)
    mode = getattr(case, "mode", None)
    if mode is None or mode.name == "forward":
        return forward
    return forward * MODE_FACTOR.get((case.target.framework, mode.name), MODE_FACTOR[("torch", "compile")])


def assign(cases: Sequence[Any], count: int) -> dict[str, int]:
    """op -> the 1-based shard its cases go to."""
    cost: dict[str, float] = defaultdict(float)
    for case in cases:
        cost[case.op] += case_cost(case)
    load = [0.0] * count
    owner = {}
    for op in sorted(cost, key=lambda o: (-cost[o], o)):
        shard = min(range(count), key=lambda i: (load[i], i))
        owner[op] = shard + 1
        load[shard] += cost[op]
    return owner


def select(cases: Sequence[Any], shard: Shard) -> tuple[list[Any], dict[str, Any]]:
    """The shard's cases (in plan order) and the record of the slice for the results file's environment."""
    owner = assign(cases, shard.count)
    mine = [c for c in cases if owner[c.op] == shard.index]
    record = {"index": shard.index, "count": shard.count, "cases": len(mine), "planned": len(cases),
              "plan": plan_fingerprint(cases), "ops": sorted({c.op for c in mine})}
    return mine, record


def plan_fingerprint(cases: Sequence[Any]) -> str:
    """The same for every shard of one plan, different for another plan (other ops, targets, seed's samples)."""
    digest = hashlib.sha256("\n".join(sorted(c.id for c in cases)).encode()).hexdigest()
    return digest[:16]


def check_shards(named: list[tuple[str, dict[str, Any]]], ids: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Check that sharded results files are the disjoint, complete slices of one plan; return their records.

    ``named``: (file name, its environment's shard record); ``ids``: file name -> its case ids. A problem is one
    UsageError that says which shards or cases are missing or overlapping.
    """
    first_name, first = named[0]
    for name, record in named:
        if (record.get("count"), record.get("plan")) != (first.get("count"), first.get("plan")):
            raise UsageError(f"cannot merge {name} (shard {record.get('index')}/{record.get('count')} of plan "
                             f"{record.get('plan')}) with {first_name} (shard {first.get('index')}/"
                             f"{first.get('count')} of plan {first.get('plan')}): shards of one run share N and "
                             "the plan (same targets, ops, dtypes, seed and samples)")
    by_index: dict[int, list[str]] = defaultdict(list)
    for name, record in named:
        by_index[record["index"]].append(name)
    twice = {i: names for i, names in by_index.items() if len(names) > 1}
    if twice:
        i, names = sorted(twice.items())[0]
        raise UsageError(f"shard {i}/{first['count']} is given twice ({', '.join(names)}); pass each shard once")
    seen: dict[str, str] = {}
    overlap = []
    for name, _ in named:
        for cid in ids[name]:
            if cid in seen and seen[cid] != name:
                overlap.append(f"{cid} ({seen[cid]}, {name})")
            seen.setdefault(cid, name)
    if overlap:
        raise UsageError(f"{len(overlap)} cases are in more than one shard, e.g. {'; '.join(overlap[:5])}; "
                         "shards must be disjoint: run each with the same plan and its own --shard K/N")
    short = [f"{name} holds {len(ids[name])} of its {record['cases']} cases"
             for name, record in named if len(ids[name]) != record["cases"]]
    missing = [i for i in range(1, first["count"] + 1) if i not in by_index]
    if missing or short:
        planned = first.get("planned")
        given = sum(record["cases"] for _, record in named)
        names = ", ".join(f"{i}/{first['count']}" for i in missing)
        parts = [f"shard(s) {names} (not given: {planned - given} cases)"] if missing else []
        parts += short
        raise UsageError(f"the shards do not cover the plan's {planned} cases: missing {'; '.join(parts)}; merged "
                         f"{len(seen)} cases. Pass every shard's results file (or re-run the missing shards)")
    return [record for _, record in sorted(named, key=lambda n: n[1]["index"])]

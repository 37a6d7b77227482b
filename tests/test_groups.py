"""Execution groups: a compile-per-case backend builds a group of cases as one program, and each case keeps the
verdict it gets alone. Groups are planned whole dtypes at a time, sent to one worker, and a group build that
raises, kills its worker or hangs leaves every case to run alone, never blamed on its neighbours."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from opcoverage.execute import groups
from opcoverage.execute.runner import Case
from opcoverage.modes import FORWARD_MODE, Mode
from opcoverage.types import Target
from tests.conftest import ADD_SPEC

ROOT = Path(__file__).resolve().parents[1]


def _case(op, dtype, sample, target="iree:llvm-cpu", mode=FORWARD_MODE):
    return Case(op, Target.parse(target), dtype, sample, "", mode=mode)


def test_groups_keep_whole_dtypes_together_up_to_the_size_and_leave_other_cases_in_place():
    plan = ([_case("add", "float32", f"s{i}") for i in range(3)] + [_case("add", "int32", f"s{i}") for i in range(2)]
            + [_case("add", "float64", f"s{i}") for i in range(5)] + [_case("relu", "float32", "s0")]
            + [_case("add", "float32", "s0", "torch:cpu"), _case("add", "float32", "s0", mode=Mode("grad"))])
    out = groups.assign(plan, lambda target: 4 if target.framework == "iree" else 0)
    assert sorted(c.id for c in out) == sorted(c.id for c in plan)  # nothing lost, nothing added
    by_id = {c.id: c for c in out}
    first = by_id[_case("add", "float32", "s0").id].group
    assert first == ("float32/s0", "float32/s1", "float32/s2")  # int32 would make 5: it starts its own group
    assert by_id[_case("add", "int32", "s1").id].group == ("int32/s0", "int32/s1")
    assert by_id[_case("add", "float64", "s4").id].group == ()  # float64's 5 cases: a group of 4, one left alone
    assert len(by_id[_case("add", "float64", "s0").id].group) == 4
    for alone in (_case("relu", "float32", "s0"), _case("add", "float32", "s0", "torch:cpu"),
                  _case("add", "float32", "s0", mode=Mode("grad"))):
        assert by_id[alone.id].group == ()  # one case of its op, a target without groups, a mode besides forward
    keys = [groups.key(c) for c in out if c.group]
    assert all(keys.count(k) == len(k[2]) for k in keys)
    assert [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k] == list(dict.fromkeys(keys))  # contiguous


@pytest.fixture
def grouping_env(tmp_path):
    dist = tmp_path / "site" / "grouping_vendor-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: grouping-vendor\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[opcoverage.backends]\ngrouping = tests.fault.grouping:GroupingBackend\n")
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "add.toml").write_text(ADD_SPEC)
    path = os.pathsep.join([str(tmp_path / "site"), str(ROOT / "src"), str(ROOT)])
    return {**os.environ, "PYTHONPATH": path, "OPCOV_FAULT_CHILDREN": str(tmp_path / "children")}


def test_a_group_build_that_raises_dies_or_hangs_leaves_each_case_its_own_verdict(grouping_env, tmp_path):
    out = tmp_path / "r.json"
    targets = "grouping:ok,grouping:raise,grouping:segfault,grouping:hang"
    done = subprocess.run([sys.executable, "-m", "opcoverage", "run", "--specs", str(tmp_path / "specs"), "--targets",
                           targets, "--timeout", "5", "-j", "2", "--out", str(out)],
                          env=grouping_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = json.loads(out.read_text())["results"]
    by_target = defaultdict(list)
    for r in records:
        by_target[r["target"]].append(r)
    assert set(by_target) == set(targets.split(","))
    assert all(r["status"] == "pass" for r in records), [(r["target"], r["status"], r["message"]) for r in records]
    pids = defaultdict(set)
    for r in by_target["grouping:ok"]:
        assert r["extra"]["group"] >= 2  # built together
        pids[(r["dtype"], r["extra"]["group"])].add(r["extra"]["pid"])
    assert all(len(p) == 1 for p in pids.values())  # a group's cases ran in one worker
    for target in ("grouping:raise", "grouping:segfault", "grouping:hang"):
        assert not any("group" in r["extra"] for r in by_target[target])  # every case ran alone
    firsts = {t: [r["extra"]["crashed_first"] for r in by_target[t] if "crashed_first" in r["extra"]]
              for t in ("grouping:segfault", "grouping:hang")}
    assert firsts["grouping:segfault"] and all("SIGSEGV" in m and "group of" in m for m in firsts["grouping:segfault"])
    assert firsts["grouping:hang"] and all("no result after 5 s" in m for m in firsts["grouping:hang"])
    children = [int(pid) for pid in (tmp_path / "children").read_text().split()]
    assert children and not any(_running(pid) for pid in children)  # killed with their worker


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has died and waits only to be reaped


def _verdicts(cases, catalog, cache, monkeypatch, backend_module):
    """Each case's (status, stage, outputs' errors, message, group, reached ops, cache) run in this process."""
    from opcoverage.execute.runner import run_case

    monkeypatch.setenv("OPCOV_CACHE_DIR", str(cache))
    # grouped however slow this process's first export is (HEAVY_EXPORT_S is about speed, never verdicts)
    monkeypatch.setattr(backend_module, "HEAVY_EXPORT_S", float("inf"), raising=False)
    backend_module._cache.cache_clear()
    groups._ATTEMPTS.clear()
    out = {}
    for case in cases:
        r = run_case(catalog, case)
        out[case.id] = (r.status.value, r.extra.get("stage"), r.max_abs_err, r.message, r.extra.get("group"),
                        r.dispatched, r.extra.get("cache"))
    backend_module._cache.cache_clear()
    backend_module._GROUPED.clear()  # the last group's programs, which later tests' cases must not find
    getattr(backend_module, "_REFUSED", {}).clear()
    return out


def _grouped_and_alone(target, ops, dtypes, tmp_path, monkeypatch, backend_module):
    from opcoverage.backends import get_backend
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.execute.runner import plan_cases

    catalog = load_catalog()
    planned = plan_cases(catalog, [Target.parse(target)], ops, dtypes, ["*-s0", "*-s1"])
    size = groups.group_size(get_backend(Target.parse(target).framework))
    grouped = _verdicts(groups.assign(planned, lambda t: size), catalog, tmp_path / "a", monkeypatch, backend_module)
    alone = _verdicts(planned, catalog, tmp_path / "b", monkeypatch, backend_module)
    return grouped, alone


def _same_verdicts(grouped, alone, messages=False, from_groups=True):
    """The same status and stage (and with ``messages``, the same message and reached ops) grouped and alone; with
    ``from_groups``, some case of ``grouped`` ran from its group."""
    assert grouped.keys() == alone.keys()
    for case_id in grouped:
        assert grouped[case_id][:2] == alone[case_id][:2], (case_id, grouped[case_id], alone[case_id])
        if messages:
            assert (grouped[case_id][3], grouped[case_id][5]) == (alone[case_id][3], alone[case_id][5]), case_id
        if alone[case_id][2] is not None:
            assert grouped[case_id][2] == pytest.approx(alone[case_id][2], rel=0, abs=0), case_id
    assert not from_groups or any(v[4] for v in grouped.values()), "no case ran from a group"


def test_iree_cases_compiled_as_one_module_keep_their_verdicts(tmp_path, monkeypatch):
    pytest.importorskip("iree.compiler", reason="iree is not installed (pip install 'opcoverage[iree]')")
    from opcoverage.backends import iree

    grouped, alone = _grouped_and_alone("iree:llvm-cpu", ["add", "fft_fft"], ["float32", "float64", "uint8"],
                                        tmp_path, monkeypatch, iree)
    _same_verdicts(grouped, alone)
    statuses = {v[0] for v in grouped.values()}
    assert {"pass", "unsupported"} <= statuses  # add float32 passes, DFT does not legalize
    assert "pass" not in {v[0] for k, v in grouped.items() if "float64" in k}  # the demotion, grouped or not


def test_executorch_cases_lowered_as_one_program_keep_their_verdicts(tmp_path, monkeypatch):
    pytest.importorskip("executorch", reason="executorch is not installed (pip install 'opcoverage[executorch]')")
    from opcoverage.backends import executorch

    # XNNPACK: each case's delegation is judged on its own nodes of the shared program
    grouped, alone = _grouped_and_alone("executorch:xnnpack", ["add", "erf"], ["float32", "uint16"], tmp_path,
                                        monkeypatch, executorch)
    _same_verdicts(grouped, alone, messages=True)
    assert "pass" in {v[0] for k, v in grouped.items() if k.startswith("add-") and "float32" in k}  # delegated
    assert {v[0] for k, v in grouped.items() if k.startswith("erf-") and "float32" in k} == {"fallback"}  # portable
    # the edge verifier's dtypes: refused in the group, on each member's own nodes, with the message alone gives
    refused = {k: v for k, v in grouped.items() if "uint16" in k}
    assert {v[0] for v in refused.values()} == {"unsupported"} and all(v[4] for v in refused.values())
    assert all("mismatched dtypes" in v[3] and "torch.uint16" in v[3] for v in refused.values())


def test_executorch_members_refused_in_their_group_get_their_own_verdicts_and_replay_them(tmp_path, monkeypatch):
    """The members of a group that the edge verifier refuses (sort is not Core ATen) or that the runtime has no
    kernel for (max_pool3d_with_indices) or whose kernel fails at run time (col2im) get, from their group, the verdict and message their own program gets; a
    later run replays them from the cache (``cache: hit``) without building. (A refused dtype beside members that
    build: the test above.)"""
    pytest.importorskip("executorch", reason="executorch is not installed (pip install 'opcoverage[executorch]')")
    from opcoverage.backends import executorch
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.execute.runner import plan_cases

    catalog = load_catalog()
    planned = plan_cases(catalog, [Target.parse("executorch:portable")], ["sort", "max_pool3d_with_indices", "col2im"],
                         ["float32"], ["*-s0", "*-s1"])
    grouped = groups.assign(planned, lambda t: 24)
    first = _verdicts(grouped, catalog, tmp_path / "c", monkeypatch, executorch)
    alone = _verdicts(planned, catalog, tmp_path / "d", monkeypatch, executorch)
    again = _verdicts(grouped, catalog, tmp_path / "c", monkeypatch, executorch)
    _same_verdicts(first, alone, messages=True)
    _same_verdicts(again, alone, messages=True, from_groups=False)  # every refused case replays alone
    assert all("Core ATen" in v[3] for k, v in first.items() if k.startswith("sort-"))
    assert all("Missing operator" in v[3] for k, v in first.items() if k.startswith("max_pool3d"))
    refused = [k for k, v in first.items() if v[0] == "unsupported"]
    assert len(refused) == 4 and all(first[k][4] and first[k][6] is None for k in refused)  # found in the group
    assert all(again[k][4] is None and again[k][6] == "hit" for k in refused)  # replayed alone, not built
    # a kernel that fails at run time (col2im's negative padding) is found in its group from the runtime's log, with
    # the kernel's own reason; it depends on the inputs' values, so it is never kept in the cache
    failed = first["col2im-executorch:portable-float32-s1"]
    assert failed[0] == "error" and failed[4] and "constant_pad_nd.out failed" in failed[3]
    assert "Padding values must be non-negative" in failed[3]
    assert again["col2im-executorch:portable-float32-s1"][4] and again["col2im-executorch:portable-float32-s1"][6] is None


@pytest.mark.parametrize("target", ["iree:llvm-cpu", "executorch:xnnpack", "executorch:portable",
                                    "onnxruntime:openvino", "openvino:cpu"])
def test_vendor_targets_on_the_host_cpu_share_the_cpu_lane_and_its_worker_per_core(target):
    assert Target.parse(target).device_class == "cpu"  # not a one-worker accelerator lane


def test_executorch_members_sharing_a_delegate_are_judged_on_their_own_nodes(monkeypatch):
    """XNNPACK's partitioner puts the calls of several members in one delegate (local_response_norm's 3-D sample
    goes through avg_pool2d, its 4-D one through avg_pool3d): each member's delegated and portable ops are still
    those of its own program, not its neighbours'."""
    pytest.importorskip("executorch", reason="executorch is not installed (pip install 'opcoverage[executorch]')")
    from opcoverage.backends import executorch
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.execute.runner import _samples

    monkeypatch.setattr(executorch, "HEAVY_EXPORT_S", float("inf"))  # built as a group however slow the machine
    spec = load_catalog().ops["local_response_norm"]
    members = list(_samples(spec, "float32", 0, "quick"))[:2]
    assert [len(s.args[0].shape) for s in members] == [3, 4]
    _, group = executorch._build(spec, members, "xnnpack")
    for own, sample in zip(group["members"], members):
        _, alone = executorch._build(spec, [sample], "xnnpack")
        for key in ("portable_ops", "delegated_ops", "delegate_calls"):
            assert own[key] == alone["members"][0][key], (sample.id, key)
    assert "aten::avg_pool3d" in group["members"][1]["portable_ops"] + group["members"][1]["delegated_ops"]
    assert "aten::avg_pool3d" not in group["members"][0]["portable_ops"] + group["members"][0]["delegated_ops"]

"""Results files: schema-valid writes, atomic replacement, clear errors on bad files, and shard merges."""

from __future__ import annotations

import json

import jsonschema
import pytest

from opcoverage import results as res
from opcoverage.errors import UsageError
from opcoverage.types import CaseResult, Status

ENV = {"opcoverage": "0.1.0", "python": "3.11", "os": "Linux", "cpu": "x", "frameworks": {}, "targets": {},
       "seed": 0, "samples": "quick", "catalog": "abc"}


def _record(target="torch:cpu", status=Status.PASS, sample="s0", message=""):
    return CaseResult("add", target, "float32", sample, status, message, dispatched=("aten::add.Tensor",))


def test_written_file_matches_the_shipped_schema_and_reads_back(tmp_path):
    path = tmp_path / "r.json"
    original = res.ResultsFile(ENV, (_record(), _record(status=Status.MISMATCH, sample="s1")))
    res.write(path, original)
    schema = json.loads(res.SCHEMA_PATH.read_text())
    jsonschema.validate(json.loads(path.read_text()), schema)
    back = res.read(path)
    assert back.results == original.results
    assert back.environment == ENV


def test_non_finite_errors_are_written_as_null(tmp_path):
    path = tmp_path / "r.json"
    record = CaseResult("add", "torch:cpu", "float32", "s0", Status.MISMATCH, "nan", max_abs_err=float("inf"),
                        max_rel_err=float("inf"))
    res.write(path, res.ResultsFile(ENV, (record,)))
    assert json.loads(path.read_text())["results"][0]["max_abs_err"] is None


@pytest.mark.parametrize("content, fragment", [
    ('{"schema_version": 1, "environment": {}, "results": [', "corrupt or truncated"),
    ("not json at all", "corrupt or truncated"),
    ('{"schema_version": 99, "environment": {}, "results": []}', "schema_version 99"),
    ('{"results": []}', "not an opcoverage results file"),
    ('{"schema_version": 1, "environment": {}, "results": [{"op": "add"}]}', "record 0 lacks"),
    ('{"schema_version": 1, "environment": {}, "results": [{"op": "a", "target": "t:c", "dtype": "f", '
     '"sample": "s0", "status": "great"}]}', "record 0 is invalid"),
])
def test_bad_results_files_give_one_clear_error(tmp_path, content, fragment):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=fragment) as info:
        res.read(path)
    assert str(path) in str(info.value)


def test_missing_file_and_missing_output_folder(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        res.read(tmp_path / "nope.json")
    with pytest.raises(UsageError, match="folder"):
        res.write(tmp_path / "no" / "r.json", res.ResultsFile(ENV, ()))
    assert not (tmp_path / "no").exists()


def test_merge_combines_shards_and_collapses_identical_duplicates():
    a = res.ResultsFile({**ENV, "targets": {"torch:cpu": {}}}, (_record("torch:cpu"),))
    b = res.ResultsFile({**ENV, "targets": {"jax:cpu": {}}}, (_record("jax:cpu"), _record("torch:cpu")))
    merged = res.merge([("a.json", a), ("b.json", b)])
    assert {r.target for r in merged.results} == {"torch:cpu", "jax:cpu"}
    assert len(merged.results) == 2
    assert set(merged.environment["targets"]) == {"torch:cpu", "jax:cpu"}


def test_merge_rejects_conflicts_and_other_catalogs():
    a = res.ResultsFile(ENV, (_record(),))
    b = res.ResultsFile(ENV, (_record(status=Status.ERROR, message="boom"),))
    with pytest.raises(UsageError, match="conflicting records for case add-torch:cpu-float32-s0"):
        res.merge([("a.json", a), ("b.json", b)])
    other = res.ResultsFile({**ENV, "catalog": "def"}, (_record(),))
    with pytest.raises(UsageError, match="catalog differs"):
        res.merge([("a.json", a), ("c.json", other)])


def test_merge_of_runs_in_different_modes_keeps_every_mode():
    grad = {"requested": ["grad"], "not_applicable": {"onnxruntime:cpu/grad": "no gradient op"}}
    compiled = {"requested": ["compile"], "not_applicable": {"jax:cpu/compile": "a torch mode"}}
    a = res.ResultsFile({**ENV, "modes": grad}, (CaseResult("add", "torch:cpu", "float32", "s0", Status.PASS,
                                                            mode="grad"),))
    b = res.ResultsFile({**ENV, "modes": compiled}, (CaseResult("add", "torch:cpu", "float32", "s0", Status.PASS,
                                                                mode="compile"),))
    merged = res.merge([("a.json", a), ("b.json", b)])
    assert {r.id for r in merged.results} == {"add-torch:cpu/grad-float32-s0", "add-torch:cpu/compile-float32-s0"}
    assert merged.environment["modes"] == {"requested": ["grad", "compile"],
                                           "not_applicable": {**grad["not_applicable"], **compiled["not_applicable"]}}

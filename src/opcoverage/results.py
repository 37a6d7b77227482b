"""Results: the JSON results file (schema, atomic write, validated read) and the merge of CI shards."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from opcoverage.errors import UsageError
from opcoverage.types import CaseResult, Status

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schema" / "results.schema.json"
_RECORD_KEYS = ("op", "target", "dtype", "sample", "status")
# Environment keys that must agree between files for their records to be comparable.
_IDENTITY_KEYS = ("catalog", "seed", "samples")


@dataclass(frozen=True)
class ResultsFile:
    environment: dict[str, Any]
    results: tuple[CaseResult, ...]
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "environment": self.environment,
                "results": [r.to_json() for r in self.results], **self.extra}


def write(path: str | Path, results_file: ResultsFile) -> None:
    write_atomic(path, json.dumps(results_file.to_json(), indent=1, allow_nan=False, default=_json_default) + "\n")


def write_atomic(path: str | Path, text: str) -> None:
    """Write a whole file or nothing: readers see the old file or the new one, never half of it."""
    path = Path(path)
    if not path.parent.exists():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist; create it or choose another --out")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results and reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read(path: str | Path) -> ResultsFile:
    """Read and check a results file; any problem is one UsageError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"results file {path} does not exist; pass a file written by `opcoverage run --out`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read results file {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"results file {path} is corrupt or truncated (invalid JSON at line {exc.lineno}, "
                         f"column {exc.colno}); re-run `opcoverage run` to regenerate it") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise UsageError(f"{path} is not an opcoverage results file (no schema_version); "
                         "pass a file written by `opcoverage run --out`")
    if data["schema_version"] != SCHEMA_VERSION:
        raise UsageError(f"{path} has schema_version {data['schema_version']!r}, this opcoverage reads "
                         f"{SCHEMA_VERSION}; regenerate it with this version or use a matching opcoverage")
    if not isinstance(data.get("environment"), dict) or not isinstance(data.get("results"), list):
        raise UsageError(f"{path} lacks an environment object or a results list; the file is damaged")
    records = []
    for i, record in enumerate(data["results"]):
        if not isinstance(record, dict) or any(k not in record for k in _RECORD_KEYS):
            raise UsageError(f"{path}: record {i} lacks one of {', '.join(_RECORD_KEYS)}; the file is damaged")
        try:
            records.append(CaseResult.from_json(record))
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{path}: record {i} is invalid ({exc}); the file is damaged") from None
    extra = {k: v for k, v in data.items() if k not in ("schema_version", "environment", "results")}
    return ResultsFile(data["environment"], tuple(records), SCHEMA_VERSION, extra)


def merge(files: Iterable[tuple[str, ResultsFile]], whole: bool = False) -> ResultsFile:
    """Merge parts (one per target, say, or `run --shard K/N` slices) of the same catalog, seed and sample mode.

    Identical duplicate records collapse; duplicates with different verdicts are an error. Slices of one plan must
    be disjoint, and complete when there are several of them or ``whole`` is asked for (`opcoverage merge`): a
    single slice can still be reported on its own.
    """
    files = list(files)
    if not files:
        raise UsageError("nothing to merge; pass at least one results file")
    first_name, first = files[0]
    environment = json.loads(json.dumps(first.environment))
    if len(files) > 1 or whole:
        _check_shards(files, environment)
    by_key: dict[tuple[str, str, str, str], tuple[str, CaseResult]] = {}
    for name, results_file in files:
        for key in _IDENTITY_KEYS:
            if results_file.environment.get(key) != first.environment.get(key):
                raise UsageError(
                    f"cannot merge {name} with {first_name}: their {key} differs "
                    f"({results_file.environment.get(key)!r} vs {first.environment.get(key)!r}); "
                    "merge only runs of the same catalog, seed and sample mode")
        environment.setdefault("targets", {}).update(results_file.environment.get("targets", {}))
        environment.setdefault("frameworks", {}).update(results_file.environment.get("frameworks", {}))
        environment.setdefault("categories", {}).update(results_file.environment.get("categories", {}))
        _merge_modes(environment, results_file.environment.get("modes"))
        if results_file.environment.get("target_categories"):  # targets that run part of the catalog only
            environment.setdefault("target_categories", {}).update(results_file.environment["target_categories"])
        if results_file.environment.get("roofline"):  # --perf shards: each measured its own targets' roofs
            environment.setdefault("roofline", {}).update(results_file.environment["roofline"])
        for record in results_file.results:
            seen = by_key.get(record.key)
            if seen is None:
                by_key[record.key] = (name, record)
            elif (seen[1].status, seen[1].message) != (record.status, record.message):
                raise UsageError(f"conflicting records for case {record.id}: {seen[1].status} in {seen[0]}, "
                                 f"{record.status} in {name}; merge shards that do not overlap")
    environment["frameworks"] = dict(sorted(environment.get("frameworks", {}).items()))
    if len(files) > 1:
        environment["merged_from"] = [name for name, _ in files]
    return ResultsFile(environment, tuple(r for _, r in by_key.values()))


def _merge_modes(environment: dict[str, Any], modes: Any) -> None:
    """Parts run in different modes (`--modes grad` here, `--modes compile` there) merge into one record of every
    mode requested and every (target, mode) that did not apply."""
    if not modes:
        return
    merged = environment.setdefault("modes", {"requested": [], "not_applicable": {}})
    merged["requested"] = list(dict.fromkeys(merged.get("requested", []) + list(modes.get("requested", []))))
    merged.setdefault("not_applicable", {}).update(modes.get("not_applicable", {}))


def _check_shards(files: list[tuple[str, ResultsFile]], environment: dict[str, Any]) -> None:
    """Shards (`run --shard K/N`) of each plan must be disjoint and complete; the merge records them under
    ``shards`` instead of the first file's ``shard``."""
    from opcoverage.execute.shard import check_shards

    sharded = [(name, f) for name, f in files if f.environment.get("shard")]
    environment.pop("shard", None)
    if not sharded:
        return
    if len(sharded) != len(files):
        plain = next(name for name, f in files if not f.environment.get("shard"))
        raise UsageError(f"cannot merge {plain}, a whole run, with shards ({sharded[0][0]}, ...): merge the shards "
                         "of a run first, then merge that with other whole runs")
    by_plan: dict[str, list[tuple[str, ResultsFile]]] = {}
    for name, f in sharded:
        by_plan.setdefault(f.environment["shard"].get("plan", ""), []).append((name, f))
    records = []
    for group in by_plan.values():
        ids = {name: [r.id for r in f.results] for name, f in group}
        for record in check_shards([(name, f.environment["shard"]) for name, f in group], ids):
            records.append({k: v for k, v in record.items() if k != "ops"})
    environment["shards"] = records


def counts(results: Iterable[CaseResult]) -> dict[str, int]:
    tally = {s.value: 0 for s in Status}
    for r in results:
        tally[r.status.value] += 1
    return {k: v for k, v in tally.items() if v}

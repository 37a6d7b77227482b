"""A run session: from a RunConfig to planned cases, their results and the results file (shared by CLI and pytest)."""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Callable

from opcoverage import environment
from opcoverage.backends import get_backend, resolve_targets
from opcoverage.backends.base import category_scope
from opcoverage.catalog.loader import load_catalog
from opcoverage.catalog.spec import BINDING_KEYS
from opcoverage.errors import UsageError
from opcoverage.execute import groups
from opcoverage.execute.pool import Lane, WorkerConfig, run_isolated, start_forkserver, stop_forkserver
from opcoverage.execute.runner import Case, plan_cases, run_case
from opcoverage.journal import Journal, check_identity, journal_path
from opcoverage.modes import FORWARD_MODE, check_compile_backends, not_applicable
from opcoverage.options import RunConfig
from opcoverage.perf import config_for, roofline
from opcoverage.results import ResultsFile
from opcoverage.suites import get_suite, runnable_targets
from opcoverage.types import CaseResult, Target


class RunSession:
    """Everything a run needs, resolved and validated up front so bad input fails before any case runs."""

    def __init__(self, config: RunConfig):
        early = bool(config.targets)
        if early:  # the workers' forkserver imports their frameworks while this process checks and plans
            start_forkserver(_bindings(config.targets))
        try:
            self._check_and_plan(config)
        except BaseException:
            if early:  # bad input: it would hold this process's output open until its imports end
                stop_forkserver()
            raise

    def _check_and_plan(self, config: RunConfig) -> None:
        self.config = config
        self.targets = resolve_targets(config.targets)
        self.suite = get_suite(config.suite) if config.suite else None
        self.modes = list(config.modes or [FORWARD_MODE])
        self.at_shapes: dict = {}  # --shapes-from: the models' shapes per (op, dtype), for the perf stage
        if config.shapes_from and (not config.perf or self.suite is not None):
            raise UsageError("--shapes-from times the catalog's ops at a model's shapes: it needs --perf and no "
                             "--suite (add --perf)")
        if self.suite is not None and self.modes != [FORWARD_MODE]:
            raise UsageError(f"--modes does not apply to --suite {config.suite}: an external suite's cases run as "
                             "the suite defines them; drop --modes, or run the catalog")
        if self.suite is not None and hasattr(self.suite, "configure"):  # a suite that generates its samples
            self.suite.configure(seed=config.seed, samples=config.samples)
        if self.suite is not None and not config.targets:  # by default, every available target that can run it
            self.targets = runnable_targets(self.suite, self.targets)
        self.frameworks = _bindings(map(str, self.targets))
        if self.suite is not None:  # an external suite's cases instead of the catalog's (--suite)
            self.catalog = None
            self.cases = self.suite.plan(self.targets, config.ops, config.dtypes, config.cases)
        else:
            self.catalog = load_catalog(config.specs or None, frameworks=self.frameworks)
            check_compile_backends(self.modes)
            ops, dtypes = self._model_shapes() if config.shapes_from else (config.ops, config.dtypes)
            self.cases: list[Case] = plan_cases(self.catalog, self.targets, ops, dtypes, config.cases,
                                                config.seed, config.samples, self.modes)
        if not self.cases:
            scoped = "".join(f"; {t} runs {', '.join(s['runs'])} only" for t, s in self.target_categories().items())
            raise UsageError("the filters select no case; check --ops, --dtypes and --cases against `opcoverage "
                             f"catalog`{scoped}")
        self.shard_record = None
        if config.shard is not None:  # --shard K/N: this run's slice of the plan
            from opcoverage.execute.shard import select

            ops = len({c.op for c in self.cases})
            self.cases, self.shard_record = select(self.cases, config.shard)
            if not self.cases:
                raise UsageError(f"--shard {config.shard} holds no case: shards split the plan by op, and it has only "
                                 f"{ops} op(s); use at most {ops} shards")
        if config.out and not config.out.parent.is_dir():
            raise UsageError(f"cannot write the results file {config.out}: folder {config.out.parent} does not exist; "
                             "create it or choose another --out")
        self.journal = Journal(journal_path(config.out), self.identity) if config.out else None
        self.resumed = self._recorded() if config.resume else []
        self.perf = (config_for(self.cases, config.perf_budget, self.jobs, self.at_shapes) if config.perf
                     else None)  # --perf
        self._perf_threads = config.perf_threads if config.perf else None
        if self._perf_threads:  # in-process cases (pytest) read it through backends.base.thread_budget()
            os.environ["OPCOV_THREADS"] = str(self._perf_threads)

    def _model_shapes(self) -> tuple[list[str], list[str]]:
        """--shapes-from: read the models' manifests (float32, or the --dtypes a model can be built in), keep their
        shapes for the perf stage, and select the ops they call (within --ops) at the dtypes they call them in."""
        from opcoverage.models.perf import shapes_by_case
        from opcoverage.models.torch_source import TORCH_DTYPES

        config = self.config
        built = [d for d in config.dtypes if d in TORCH_DTYPES] or ["float32"]
        found = shapes_by_case(config.shapes_from, self.catalog, built)
        self.at_shapes = {k: v for k, v in found.items() if (not config.ops or k[0] in config.ops)
                          and (not config.dtypes or k[1] in config.dtypes)}
        if not self.at_shapes:
            raise UsageError(f"no catalog op of {', '.join(config.shapes_from)} is selected: the models call none "
                             "under its own name at these --ops and --dtypes; `opcoverage model NAME` lists their ops")
        return sorted({op for op, _ in self.at_shapes}), sorted({dt for _, dt in self.at_shapes})

    @property
    def identity(self) -> dict:
        source = self.suite.fingerprint if self.suite is not None else self.catalog.fingerprint
        return {"catalog": source, "seed": self.config.seed, "samples": self.config.samples}

    def environment(self) -> dict:
        if self.suite is not None:
            return self._suite_environment()
        env = environment.collect(self.targets, self.config.seed, self.config.samples, self.catalog.fingerprint)
        env["specs"] = [str(s) for s in (self.config.specs or ["builtin"])]
        env["catalog_ops"] = len(self.catalog)
        env["modes"] = self.modes_record()
        scoped = self.target_categories()
        if scoped:
            env["target_categories"] = scoped
        ran = {c.op for c in self.cases}
        env["categories"] = {op.name: op.category for op in self.catalog if op.name in ran}
        return env

    def modes_record(self) -> dict:
        """The modes asked for, and for each target a mode does not apply to, why (no case of it is planned)."""
        skipped = {}
        for mode in self.modes:
            for target in self.targets:
                why = not_applicable(mode, get_backend(target.framework), target.framework)
                if why and mode != FORWARD_MODE:
                    skipped[f"{target}/{mode}"] = why
        return {"requested": [str(m) for m in self.modes], "not_applicable": skipped}

    def target_categories(self) -> dict:
        """For each target whose backend runs part of the catalog only, the categories it runs and why (no case of
        another category is planned on it)."""
        scoped = {}
        for target in self.targets:
            scope = category_scope(get_backend(target.framework))
            if scope is not None:
                scoped[str(target)] = {"runs": list(scope[0]), "why": scope[1]}
        return scoped

    def _suite_environment(self) -> dict:
        env = environment.collect(self.targets, self.config.seed, self.config.samples, self.suite.fingerprint)
        env.update(self.suite.environment())
        env["catalog_ops"] = len(self.suite.tests)  # the report's "% of catalog" is then % of the suite
        env["categories"] = {c.op: self.suite.category for c in self.cases}
        return env

    def run_one(self, case: Case) -> CaseResult:
        """Run a case in this process (the pytest form)."""
        return run_case(self.catalog, case, self.config.seed, self.config.samples, self.perf)

    def lane_of(self, target: Target) -> str:
        """The lane (worker group) a target's cases run in: its kind of device; --perf puts all in one, "perf"."""
        return "perf" if self.config.perf and not self.config.jobs else target.device_class

    @property
    def workers(self) -> dict[str, int]:
        """Workers per lane, e.g. {"cpu": 2, "gpu": 1}: ``--jobs`` for every lane; by default one per core for
        CPU targets and one per accelerator, and under --perf a single worker (workers timing side by side would
        share cores and memory bandwidth)."""
        lanes = dict.fromkeys(self.lane_of(t) for t in self.targets)
        default = {"cpu": os.cpu_count() or 1}
        return {lane: self.config.jobs or default.get(lane, 1) for lane in lanes}

    @property
    def jobs(self) -> int:
        """Worker processes in all."""
        return sum(self.workers.values())

    @property
    def max_memory(self) -> int | None:
        """Bytes each CPU worker may allocate: --max-memory, else 80% of the machine's RAM shared among the CPU
        workers, so that together they never push it into swap or its OOM killer. None: no cap."""
        if self.config.max_memory is not None:
            return self.config.max_memory or None
        total = _physical_memory()
        if total is None:
            return None
        cpu_workers = sum(n for lane, n in self.workers.items() if lane in ("cpu", "perf")) or 1
        return int(0.8 * total / cpu_workers)

    def _recorded(self) -> list[CaseResult]:
        """Cases an earlier run recorded for --out: its journal, or the finished results file. Checked up front."""
        from opcoverage import results as res

        out = self.config.out
        if out is None:
            raise UsageError("--resume needs --out: it continues the run recorded for that results file")
        if self.journal is not None and self.journal.path.exists():
            return self.journal.read()
        if out.exists():
            previous = res.read(out)
            check_identity(out, previous.environment, self.identity)
            return list(previous.results)
        return []

    def run(self, progress: Callable[[CaseResult], None] | None = None,
            on_resumed: Callable[[list[CaseResult]], None] | None = None, cases: list[Case] | None = None,
            stop: threading.Event | None = None) -> list[CaseResult]:
        """Run the planned cases (or the given subset of them) in isolated workers, journaling each result; returns
        them in plan order. Setting ``stop`` ends the run early with the results in hand."""
        cases = self.cases if cases is None else cases
        planned = {c.id: i for i, c in enumerate(cases)}
        journal = self.journal
        done = {r.id: r for r in self.resumed if r.id in planned}
        if journal:
            continuing = self.config.resume and journal.path.exists()
            journal.start(resume=continuing)  # appends after what it holds; a fresh one gets what was carried over
            if not continuing:
                for r in done.values():
                    journal.append(r)
        if on_resumed and done:
            on_resumed(list(done.values()))
        todo = groups.assign((c for c in cases if c.id not in done),
                             lambda t: groups.group_size(get_backend(t.framework), self.config.group_size))
        try:
            for result in run_isolated(self._lanes(todo), self.config.timeout, stop) if todo else ():
                done[result.id] = result
                if journal:
                    journal.append(result)
                if progress:
                    progress(result)
        finally:
            if journal:
                journal.close(remove=False)  # the caller removes it once the results file is written
        return sorted(done.values(), key=lambda r: planned[r.id])

    def _lanes(self, cases: list[Case]) -> list[Lane]:
        """The cases grouped by lane, each lane's targets, workers and their intra-op thread budget.

        Conformance cases run with one intra-op thread in every framework, whatever --jobs and the machine: a
        verdict then does not depend on either (more threads sum a parallel reduction in another order), tiny
        cases gain nothing from a thread pool (ONNX Runtime takes longer to start one per session than to run
        the node), and the cores go to workers instead. --perf workers get the cores shared among the CPU
        workers (all of them where no CPU lane runs), or --perf-threads."""
        workers = self.workers
        lanes = []
        for name, count in workers.items():
            targets = [t for t in self.targets if self.lane_of(t) == name]
            threads = 1
            if self.config.perf:
                threads = self._perf_threads or max(1, (os.cpu_count() or 1) // workers.get("cpu", count))
            config = WorkerConfig(tuple(self.config.specs), self.frameworks, tuple(map(str, targets)),
                                  self.config.seed, self.config.samples, threads, suite=self.suite, perf=self.perf,
                                  max_memory=self.max_memory if name in ("cpu", "perf") else None)
            lanes.append(Lane(name, deque(c for c in cases if self.lane_of(c.target) == name), count, config,
                              pin=_cpus_to_pin(name, count)))
        return lanes

    def results_file(self, results: list[CaseResult]) -> ResultsFile:
        env = self.environment()
        if self.shard_record is not None:
            env["shard"] = self.shard_record
        if self.perf is not None:
            env["roofline"] = roofline.summarize(results)
        return ResultsFile(env, tuple(results))


def _bindings(targets) -> tuple[str, ...]:
    """The catalog bindings the targets consume (a vendor backend consumes another framework's: iree -> onnx)."""
    found = set()
    for text in targets or ():
        try:
            framework = Target.parse(text).framework
            found.add(getattr(get_backend(framework), "binding", framework))
        except Exception:  # noqa: BLE001 - resolve_targets says what is wrong with it
            continue
    return tuple(sorted(found & set(BINDING_KEYS)))


def _cpus_to_pin(lane: str, workers: int) -> tuple[int, ...]:
    """A CPU lane with a worker for every CPU this process may use pins each worker to its own CPU: the frameworks
    then size their compile and run-time pools for one CPU instead of every worker starting one per CPU (XLA
    compiles fusions on such a pool). Fewer workers than CPUs, or other lanes, are left to the OS."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return tuple(cpus) if lane == "cpu" and len(cpus) > 1 and workers >= len(cpus) else ()


def _physical_memory() -> int | None:
    """The machine's RAM, or the container's memory limit where that is lower (cgroup v2, then v1)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total

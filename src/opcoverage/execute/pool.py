"""Isolated execution: worker processes run cases; a dead worker is a `crash`, an overdue case a `timeout`.

Each worker loads the catalog and frameworks once, then runs the cases it is sent one at a time. The
parent knows which case each worker holds, so a segfault, abort, `os._exit` or out-of-memory kill is
pinned on exactly that case, the worker is replaced, and no other case is affected or blamed.

A worker that dies after running other cases may have been broken by one of them (a corrupted heap, a
leaked lock), so its case is run once more, alone in a fresh worker, as PyTorch's test runner re-runs a
crashed test: it is `crash` only if it dies there too; otherwise its own verdict stands and ``extra``
keeps the first worker's death (``crashed_first``).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from multiprocessing import forkserver
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Iterator

from opcoverage.execute import groups
from opcoverage.execute.runner import OOM_EXTRA, Case, is_out_of_memory
from opcoverage.types import CaseResult, Status

SINGLE_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
START_TIMEOUT_S = 120.0  # a worker not ready by then (loading the catalog, warming the backends up) is broken
OUTPUT_TAIL = 1500  # characters of a worker's own output kept with a failed case


@dataclass(frozen=True)
class WorkerConfig:
    specs: tuple[str, ...]
    frameworks: tuple[str, ...]
    targets: tuple[str, ...]
    seed: int
    samples: str
    threads: int
    suite: Any = None  # the loaded external suite (opcoverage.suites) whose cases these workers run, if any
    perf: Any = None  # an opcoverage.perf.PerfConfig: time passing cases (--perf)
    max_memory: int | None = None  # bytes a worker may allocate (RLIMIT_DATA); None: no cap (accelerator lanes)


def _isolate_output(log: str) -> None:
    """Send everything the worker and its bindings write to file descriptors 1 and 2 (print, C++ logging, a flood
    of megabytes) to the worker's own log file: results travel on a separate pipe that no output can corrupt, and
    the user's terminal stays readable. The log's tail is kept with a failed or crashed case."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    for std in (1, 2):
        os.dup2(fd, std)
    os.close(fd)


def output_tail(log: str | Path, limit: int = OUTPUT_TAIL) -> str:
    """The last ``limit`` characters a worker wrote while running its current case."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - limit))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _worker_main(conn: Connection, config: WorkerConfig, cpu: int | None = None, log: str | None = None) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the run and its workers; a worker must not treat
    # the signal as its case's failure. A binding that raises KeyboardInterrupt itself is still that case's error.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if log is not None:
        _isolate_output(log)
    if config.max_memory:  # an allocation past the cap fails in this worker (MemoryError, bad_alloc) instead of
        import resource  # pushing the machine into swap or the kernel's OOM killer onto the run

        resource.setrlimit(resource.RLIMIT_DATA, (config.max_memory, config.max_memory))
        os.environ["OPCOV_MAX_MEMORY"] = str(config.max_memory)
    if cpu is not None:  # before any framework sizes its thread pools from the CPUs it may use
        os.sched_setaffinity(0, {cpu})
    # The libraries the forkserver preloaded (NumPy's BLAS, torch's OpenMP) start with one thread (_context); each
    # framework's own pool follows OPCOV_THREADS: torch.set_num_threads, ONNX Runtime's session options, and XLA's
    # flags, read when its CPU client starts in this process.
    os.environ["OPCOV_THREADS"] = str(config.threads)
    if config.threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    from opcoverage.catalog.loader import load_catalog
    from opcoverage.execute.runner import run_case

    if config.suite is not None:  # suite cases need the suite's data, not the catalog
        from opcoverage.suites import activate

        activate(config.suite)
    catalog = load_catalog(list(config.specs) or None, frameworks=config.frameworks) if config.suite is None else None
    _warm_up(config.targets)
    conn.send(("ready", None))
    while True:
        try:
            case = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):  # the parent is gone: so are we
            return
        if case is None:
            return
        if log is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.ftruncate(1, 0)  # the log holds this case's output only
        result = run_case(catalog, case, config.seed, config.samples, config.perf)
        sys.stdout.flush()
        sys.stderr.flush()
        record = result.to_json()
        if log is not None and result.status.is_failure:
            tail = output_tail(log)
            if tail:
                record.setdefault("extra", {})["output"] = tail
        conn.send(("result", record))
        if result.extra.get(OOM_EXTRA):  # the allocator may be left fragmented or poisoned: a fresh worker goes on
            os._exit(0)


def _warm_up(targets: tuple[str, ...]) -> None:
    """One-time framework set-up happens here, before the worker takes cases, so no case's timeout pays for it."""
    from opcoverage.backends import get_backend
    from opcoverage.types import Target

    for text in targets:
        target = Target.parse(text)
        warm_up = getattr(get_backend(target.framework), "warm_up", None)
        if warm_up is not None:
            try:
                warm_up(target.device)
            except Exception:  # a backend that cannot even warm up reports that on its first case
                pass


@dataclass
class Lane:
    """Cases whose targets share one kind of device, and the workers (how many, configured how) that run them.

    By default CPU targets get a worker per core and an accelerator one worker, so cases never contend for the
    device and a GPU's memory is never split between workers by accident (opcoverage.execute.session)."""

    name: str
    cases: deque[Case]
    workers: int
    config: WorkerConfig
    pin: tuple[int, ...] = ()  # CPUs to pin the workers to, one each (none: the OS places them)
    retry: deque[tuple[Case, str]] = field(default_factory=deque)  # crashed cases to confirm in a fresh worker
    failed_starts: int = 0  # workers that died or hung before they were ready


class _Worker:
    def __init__(self, ctx, lane: Lane, slot: int, logs: Path):
        self.lane, self.slot = lane, slot  # a replacement takes the slot (and pinned CPU) of the worker it replaces
        cpu = lane.pin[slot % len(lane.pin)] if lane.pin else None
        self.conn, child = ctx.Pipe(duplex=True)
        self.log = str(logs / f"{lane.name}-{slot}-{time.monotonic_ns()}.log")
        self.process = ctx.Process(target=_worker_main, args=(child, lane.config, cpu, self.log), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.born = time.monotonic()
        self.case: Case | None = None
        self.started = 0.0
        self.ran = 0  # cases sent to this worker, the current one included
        self.first_death = ""  # set while it re-runs a case another worker died on
        self.pending: deque[Case] = deque()  # the rest of the group its current case belongs to (groups.key)

    def send(self, case: Case, first_death: str = "") -> None:
        self.case, self.started, self.first_death = case, time.monotonic(), first_death
        self.ran += 1
        self.conn.send(case)

    def take(self) -> None:
        """Start the lane's next case if idle: a crashed case to confirm goes only to a fresh worker."""
        if not self.ready or self.case is not None:
            return
        if self.ran == 0 and self.lane.retry:
            self.send(*self.lane.retry.popleft())
        elif self.pending:
            self.send(self.pending.popleft())
        elif self.lane.cases:
            case = self.lane.cases.popleft()
            group = groups.key(case)
            while group is not None and self.lane.cases and groups.key(self.lane.cases[0]) == group:
                self.pending.append(self.lane.cases.popleft())  # the whole group goes to this worker
            self.send(case)

    def give_back(self) -> None:
        """Return the cases of its group it has not run to the lane, to be run alone: the group's build may be
        what killed it."""
        self.lane.cases.extendleft(groups.alone(c) for c in reversed(self.pending))
        self.pending.clear()

    def kill(self) -> None:
        if self.process.is_alive():
            children = _descendants(self.process.pid)  # a compiler it started (iree-compile) dies with it
            self.process.kill()
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.process.join(5)
        self.conn.close()
        try:
            os.unlink(self.log)
        except OSError:
            pass


def _descendants(pid: int) -> list[int]:
    """The processes a worker started, and theirs (Linux's /proc; elsewhere none are found). Killed with the
    worker, so that a compiler child of a timed-out case does not run on as an orphan, taking a core."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.parent.name))
    found, stack = [], list(parents.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(parents.get(child, []))
    return found


def _death_message(exitcode: int | None, output: str = "") -> str:
    oom = " (out of memory: an allocation past the worker's --max-memory cap)" if is_out_of_memory(output) else ""
    if exitcode is None:
        return "worker died" + oom
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = oom or (" (killed: out of memory or an outside kill)" if name == "SIGKILL" else "")
        return f"worker process died with {name}{hint} while running this case"
    return f"worker process exited with code {exitcode}{oom} while running this case"


def _failed(case: Case, status: Status, message: str, duration: float, output: str = "") -> CaseResult:
    extra: dict[str, Any] = {"suite": case.suite} if case.suite else {}
    if output:
        extra["output"] = output[-OUTPUT_TAIL:]
    return CaseResult(case.op, str(case.target), case.dtype, case.sample, status, message, sample_desc=case.label,
                      duration_s=duration, extra=extra, mode=str(case.mode))


def _failed_start(w: _Worker, timeout_s: float) -> Iterator[CaseResult]:
    """A worker that died or hung before it was ready (a backend's import or warm-up broke it). The first time, a
    fresh worker tries again; the second time, the lane's remaining cases are each a `crash` with the reason, so a
    broken backend ends its own lane, never the run."""
    alive = w.process.is_alive()
    reason = (f"the worker did not start within {timeout_s:g} s" if alive
              else f"the worker failed to start (exit code {w.process.exitcode})")
    tail = output_tail(w.log)
    w.kill()
    w.lane.failed_starts += 1
    if w.lane.failed_starts < 2:
        return
    message = f"{reason}: a backend's import or warm-up broke it" + (f"; its output: {tail[-300:]}" if tail else "")
    while w.lane.cases or w.lane.retry:
        case = w.lane.cases.popleft() if w.lane.cases else w.lane.retry.popleft()[0]
        yield _failed(case, Status.CRASH, message, 0.0, tail)


def _drain(w: _Worker) -> Iterator[CaseResult]:
    """Read everything a worker has sent; a result that arrived just before a crash still counts."""
    while not w.conn.closed and w.conn.poll():
        try:
            kind, payload = w.conn.recv()
        except (EOFError, OSError):
            return
        if kind == "ready":
            w.ready = True
        else:
            result = CaseResult.from_json(payload)
            if w.first_death:  # it ran alone in a fresh worker: its own verdict, and the first death kept
                result = replace(result, extra={**result.extra, "crashed_first": w.first_death})
            w.case, w.first_death = None, ""
            yield result


def start_forkserver(frameworks: tuple[str, ...]) -> None:
    """Start the workers' forkserver now, so that its imports overlap the caller's planning (opcoverage.execute
    .session); run_isolated then finds it running."""
    _context(tuple(sorted(frameworks)))


def stop_forkserver() -> None:
    """Kill the forkserver of a run that stopped before it ran a case; a new run starts a new one."""
    server = forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    server._stop()


def _context(frameworks: tuple[str, ...]):
    """A forkserver that has imported the frameworks (but started none of their threads or devices): a fresh
    worker, also one replacing a crashed worker, then starts in a fraction of a second instead of re-importing.
    Plain fork is unsafe once torch or JAX have started threads in the parent, which they have by now."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # torch._dynamo (about 2 s), which a worker's first torch call imports, is imported here once instead.
    modules = {"torch": ["torch", "torch._dynamo"], "jax": ["jax", "jax.numpy"], "onnx": ["onnx", "onnxruntime"],
               "torch_dist": ["torch"], "jax_dist": ["jax", "jax.numpy"]}
    preload = (["numpy", "opcoverage.execute.runner"] + [m for f in frameworks for m in modules.get(f, [])]
               + _catalog_modules())
    ctx.set_forkserver_preload(preload)
    # OpenBLAS and OpenMP size their pools when they load, in the forkserver: one thread each, or every worker
    # would start one per core (a reference's BLAS call would then spin on the cores the other workers need).
    saved = {var: os.environ.get(var) for var in SINGLE_THREAD_VARS}
    os.environ.update(dict.fromkeys(SINGLE_THREAD_VARS, "1"))
    try:
        forkserver.ensure_running()
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    return ctx


def _catalog_modules() -> list[str]:
    """The catalog's reference and adapter modules (and the SciPy they import: about 2 s), imported once in the
    forkserver rather than by each worker's load_catalog; adapters import their frameworks only when called."""
    import pkgutil

    from opcoverage.catalog import adapters, references

    return [f"{package.__name__}.{module.name}" for package in (references, adapters)
            for module in pkgutil.iter_modules(package.__path__)]


def run_isolated(lanes: list[Lane], timeout_s: float, stop: threading.Event | None = None) -> Iterator[CaseResult]:
    """Run each lane's cases on its own worker processes, all lanes at once, yielding results as they finish (not
    in plan order). Setting ``stop`` ends the run after the results already in hand (the pytest form's early exit)."""
    ctx = _context(tuple(sorted({f for lane in lanes for f in lane.config.frameworks})))
    logs = Path(tempfile.mkdtemp(prefix="opcoverage-workers-"))
    start_timeout_s = max(timeout_s, START_TIMEOUT_S)
    workers = [_Worker(ctx, lane, slot, logs) for lane in lanes
               for slot in range(max(1, min(lane.workers, len(lane.cases)))) if lane.cases]
    try:
        while (any(lane.cases or lane.retry for lane in lanes)
               or any(w.case is not None or w.pending for w in workers)):
            if stop is not None and stop.is_set():
                return
            for w in workers:
                w.take()
            now = time.monotonic()
            deadlines = [w.started + timeout_s - now for w in workers if w.case is not None]
            wait([w.conn for w in workers] + [w.process.sentinel for w in workers],
                 timeout=max(0.01, min([*deadlines, 1.0])))  # wakes at least once a second to honour `stop`
            for w in list(workers):
                yield from _drain(w)
                failure = None
                if not w.ready and (not w.process.is_alive() or time.monotonic() - w.born > start_timeout_s):
                    yield from _failed_start(w, start_timeout_s)
                    workers.remove(w)
                    if w.lane.cases or w.lane.retry:
                        workers.append(_Worker(ctx, w.lane, w.slot, logs))
                    continue
                if not w.process.is_alive():
                    failure = Status.CRASH
                elif w.case is not None and time.monotonic() - w.started > timeout_s:
                    failure = Status.TIMEOUT
                if failure is None:
                    continue
                status, output = failure, output_tail(w.log)
                message = (_death_message(w.process.exitcode, output) if status is Status.CRASH
                           else f"no result after {timeout_s:g} s; the worker was killed")
                grouped = w.case is not None and bool(w.case.group)
                if w.case is not None and status is Status.CRASH and w.ran > 1 and not w.first_death:
                    w.lane.retry.append((groups.alone(w.case),
                                         f"{message}, after {w.ran - 1} other case(s) in that worker"))
                elif grouped and not w.first_death:  # its group's build, not the case, may have died or hung
                    w.lane.retry.append((groups.alone(w.case),
                                         f"{message}, in a group of {len(w.case.group)} cases built together"))
                elif w.case is not None:
                    if w.first_death:
                        message = f"{message} alone in a fresh worker (first: {w.first_death})"
                    yield _failed(w.case, status, message, time.monotonic() - w.started, output)
                w.case = None
                w.give_back()
                w.kill()
                workers.remove(w)
                if w.lane.cases or w.lane.retry:
                    workers.append(_Worker(ctx, w.lane, w.slot, logs))
    finally:
        for w in workers:
            try:
                if not w.conn.closed:
                    w.conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for w in workers:
            w.process.join(2)
            if w.process.is_alive():
                w.process.kill()
        shutil.rmtree(logs, ignore_errors=True)

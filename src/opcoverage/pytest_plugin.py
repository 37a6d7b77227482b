"""pytest plugin: the conformance cases as test items (`pytest --pyargs opcoverage.conformance --opcov-targets ...`).

Cases run in the same isolated worker pool as `opcoverage run`, with the same --opcov-timeout, --opcov-jobs and
--opcov-max-memory: once collection is done, the collected cases start running in the background, and each test
item waits for its own case's result. A case that crashes or hangs its worker fails as its own item; the session
goes on, and --opcov-json holds every case's result.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from opcoverage.errors import UsageError
from opcoverage.options import add_pytest_options, from_pytest

_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_pytest_options(parser.getgroup("opcoverage", "operator coverage (opcoverage)"))


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = {"session": None, "expected": None, "gate": None, "pool": None}
    if _asked_for(config):  # validate options before collection, so bad input is one line and exit code 4
        if config.getoption("numprocesses", None):
            raise pytest.UsageError("opcoverage: run conformance cases in parallel with --opcov-jobs N, not "
                                    "pytest-xdist's -n (every xdist worker would run every case)")
        _session(config)


def _asked_for(config: pytest.Config) -> bool:
    from opcoverage.options import RUN_OPTIONS

    if any(config.getoption(f"opcov_{o.dest}") is not None for o in RUN_OPTIONS):
        return True
    return any("opcoverage.conformance" in str(a) or "opcoverage/conformance" in str(a) for a in config.args)


def _session(config: pytest.Config):
    """Plan lazily: only a test module that asks for `opcov_case` pays for loading the catalog and frameworks."""
    state = config.stash[_STATE]
    if state["session"] is None:
        from opcoverage import expectations as exp
        from opcoverage.execute.session import RunSession

        try:
            run_config = from_pytest(config)
            if run_config.python:  # its cases are not this session's to make items of
                raise UsageError("--opcov-python runs a target as an `opcoverage run` of its own, whose cases "
                                 "cannot be items of this session; run it with `opcoverage run --python "
                                 "TARGET=PYTHON --out FILE` and report FILE, or run pytest in that environment")
            state["expected"] = exp.load(run_config.expect) if run_config.expect else []
            state["session"] = RunSession(run_config)
        except UsageError as exc:
            raise pytest.UsageError(f"opcoverage: {exc}") from None
    return state["session"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "opcov_case" not in metafunc.fixturenames:
        return
    session = _session(metafunc.config)
    metafunc.parametrize("opcov_case", session.cases, ids=[c.id for c in session.cases])


class _Pool:
    """The collected cases running in the isolated worker pool on a background thread; items wait for theirs."""

    def __init__(self, run_session, cases):
        self.session, self.cases = run_session, cases
        self.results: dict[str, object] = {}
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.ready = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="opcoverage pool", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.session.run(self._deposit, on_resumed=lambda done: [self._deposit(r) for r in done],
                             cases=self.cases, stop=self.stop)
        except BaseException as exc:  # noqa: BLE001 - reported by the items that wait for a result
            self.error = exc
        finally:
            with self.ready:
                self.ready.notify_all()

    def _deposit(self, result) -> None:
        with self.ready:
            self.results[result.id] = result
            self.ready.notify_all()

    def result(self, case):
        with self.ready:
            while case.id not in self.results:
                if not self.thread.is_alive():
                    raise RuntimeError(f"the opcoverage worker pool stopped before {case.id} ran: {self.error!r}")
                self.ready.wait(1.0)
            return self.results[case.id]

    def close(self) -> list:
        """Stop the pool; the results in hand, in plan order."""
        self.stop.set()
        self.thread.join()
        return [self.results[c.id] for c in self.cases if c.id in self.results]


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if not state or state["session"] is None:
        return
    cases = [item.callspec.params["opcov_case"] for item in session.items
             if "opcov_case" in getattr(getattr(item, "callspec", None), "params", {})]
    if cases:
        state["pool"] = _Pool(state["session"], cases)


@pytest.fixture
def opcov_run(request: pytest.FixtureRequest):
    """The result of a planned case, run in the isolated worker pool.

    Returns (result, the expectation that covers it or None, the run's environment for reproducers)."""
    from opcoverage.expectations import find_expectation

    state = request.config.stash[_STATE]

    def run(case):
        run_session = _session(request.config)
        result = state["pool"].result(case)
        env = {"seed": run_session.config.seed, "samples": run_session.config.samples,
               "specs": run_session.config.specs, "suite": run_session.config.suite}
        return result, find_expectation(result, state["expected"]), env

    return run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if not state or state["session"] is None:
        return
    from opcoverage import expectations as exp
    from opcoverage import results as res
    from opcoverage.journal import journal_path

    run_session = state["session"]
    state["results"] = results = state["pool"].close() if state["pool"] is not None else []
    out = run_session.config.out
    if out and results:
        res.write(Path(out), run_session.results_file(results))
        journal_path(Path(out)).unlink(missing_ok=True)
    if state["expected"]:
        state["gate"] = exp.gate(results, state["expected"])


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if not state or state["session"] is None:
        return
    from opcoverage.results import counts

    tally = counts(state.get("results", []))
    terminalreporter.write_sep("-", "opcoverage")
    terminalreporter.write_line(", ".join(f"{v} {k}" for k, v in tally.items()) or "no case ran")
    out = state["session"].config.out
    if out and state.get("results"):
        terminalreporter.write_line(f"results written to {out}")
    gate = state["gate"]
    if gate is not None:
        for e in gate.stale:
            terminalreporter.write_line(f"STALE expectation: {e.where} {e.op} {','.join(e.dtypes) or 'all dtypes'} "
                                        f"now passes; remove it from {e.source}", yellow=True)
        for e in gate.unmatched:
            terminalreporter.write_line(f"UNMATCHED expectation: {e.where} {e.op} matches no case that ran "
                                        f"({e.source})", yellow=True)

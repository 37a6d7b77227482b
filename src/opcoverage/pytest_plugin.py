"""pytest plugin: the conformance cases as test items (`pytest --pyargs opcoverage.conformance --opcov-targets ...`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opcoverage.errors import UsageError
from opcoverage.options import add_pytest_options, from_pytest

_STATE = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_pytest_options(parser.getgroup("opcoverage", "operator coverage (opcoverage)"))


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STATE] = {"session": None, "results": [], "expected": None, "gate": None}
    if _asked_for(config):  # validate options before collection, so bad input is one line and exit code 4
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


@pytest.fixture
def opcov_run(request: pytest.FixtureRequest):
    """Run a planned case and record its result for the results file.

    Returns (result, the expectation that covers it or None, the run's environment for reproducers)."""
    from opcoverage.expectations import find_expectation

    state = request.config.stash[_STATE]

    def run(case):
        run_session = _session(request.config)
        result = run_session.run_one(case)
        state["results"].append(result)
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

    run_session = state["session"]
    if run_session.config.out and state["results"]:
        res.write(Path(run_session.config.out), run_session.results_file(state["results"]))
    if state["expected"]:
        state["gate"] = exp.gate(state["results"], state["expected"])


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if not state or state["session"] is None:
        return
    from opcoverage.results import counts

    tally = counts(state["results"])
    terminalreporter.write_sep("-", "opcoverage")
    terminalreporter.write_line(", ".join(f"{v} {k}" for k, v in tally.items()) or "no case ran")
    out = state["session"].config.out
    if out and state["results"]:
        terminalreporter.write_line(f"results written to {out}")
    gate = state["gate"]
    if gate is not None:
        for e in gate.stale:
            terminalreporter.write_line(f"STALE expectation: {e.target} {e.op} {','.join(e.dtypes) or 'all dtypes'} "
                                        f"now passes; remove it from {e.source}", yellow=True)
        for e in gate.unmatched:
            terminalreporter.write_line(f"UNMATCHED expectation: {e.target} {e.op} matches no case that ran "
                                        f"({e.source})", yellow=True)

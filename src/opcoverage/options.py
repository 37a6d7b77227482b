"""Run options, defined once: the CLI flags (--targets), the pytest options (--opcov-targets) and OPCOV_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from opcoverage.errors import UsageError


def split_list(text: str | list[str] | None) -> list[str]:
    if not text:
        return []
    parts = text if isinstance(text, list) else [text]
    return [item.strip() for part in parts for item in str(part).split(",") if item.strip()]


def _int(text: Any) -> int:
    try:
        return int(text)
    except (TypeError, ValueError):
        raise UsageError(f"expected an integer, got {text!r}") from None


@dataclass(frozen=True)
class Option:
    """One run option. ``dest`` names it in RunConfig; flags derive from it unless given."""

    dest: str
    help: str
    parse: Callable[[Any], Any]
    default: Any = None
    metavar: str | None = None
    cli: str | None = None
    pytest: str | None = None
    repeat: bool = False

    @property
    def cli_flag(self) -> str:
        return self.cli or "--" + self.dest.replace("_", "-")

    @property
    def pytest_flag(self) -> str:
        return self.pytest or "--opcov-" + self.dest.replace("_", "-")

    @property
    def is_flag(self) -> bool:
        return self.parse is _flag

    @property
    def env(self) -> str:
        return "OPCOV_" + self.dest.upper()


RUN_OPTIONS: tuple[Option, ...] = (
    Option("targets", "comma-separated targets such as torch:cpu,jax:cpu,onnxruntime:cpu (default: every available one)",
           split_list, [], "T,T"),
    Option("ops", "comma-separated op names to run (default: the whole catalog)", split_list, [], "OP,OP"),
    Option("dtypes", "comma-separated dtypes to run (default: each op's own list)", split_list, [], "DT,DT"),
    Option("modes", "comma-separated modes to run each case in: forward, grad, compile (compile:BACKEND names a "
                    "torch.compile backend), export, vmap; a mode runs on the targets whose framework has it "
                    "(default: forward)", lambda v: _modes(v), None, "M,M"),
    Option("cases", "comma-separated case ids or glob patterns (add-torch:cpu-float16-s0, 'add-*-s1')", split_list, [],
           "ID,ID"),
    Option("specs", "a folder of *.toml op specs used instead of the shipped catalog; repeat to combine, "
                    "'builtin' names the shipped one", lambda v: split_list(v) or [], [], "DIR", repeat=True),
    Option("seed", "seed for sample generation; the same seed gives the same samples", _int, 0, "N"),
    Option("samples", "quick (a few samples per op) or full (every edge case)", str, "quick", "MODE"),
    Option("expect", "a folder of expected-failure files (<framework>-<device>.toml); unexpected failures fail the run",
           lambda v: Path(v) if v else None, None, "DIR"),
    Option("out", "write the results file (JSON) here", lambda v: Path(v) if v else None, None, "FILE",
           pytest="--opcov-json"),
    Option("suite", "run an external conformance suite's cases instead of the catalog's: onnx-node (onnx's backend "
                    "node tests, on targets that consume ONNX; --ops then takes test names or op types) or opinfo "
                    "(torch's OpInfo database, on torch targets; --ops takes OpInfo names)",
           lambda v: str(v).strip() or None, None, "NAME"),
    Option("shard", "run only slice K of N of the planned cases (e.g. 2/4): deterministic and cost-balanced, the same "
                    "on every machine; `opcoverage merge` joins the N results files and checks they are disjoint "
                    "and complete", lambda v: _shard(v), None, "K/N"),
)


def _modes(text: Any):
    from opcoverage.modes import parse_modes

    return parse_modes(text)


def _shard(text: Any):
    from opcoverage.execute.shard import parse

    return parse(text)


def _positive(flag: str, cast: Callable[[Any], Any] = float) -> Callable[[Any], Any]:
    """A parser for a positive number given to ``flag``; bad input is one UsageError naming the flag."""
    def parse(text: Any) -> Any:
        try:
            value = cast(text)
        except (TypeError, ValueError):
            kind = "a whole number" if cast is int else "a number"
            raise UsageError(f"{flag} expects {kind}, got {text!r}") from None
        if value <= 0:
            raise UsageError(f"{flag} must be positive, got {text!r}")
        return value

    return parse


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


# Performance options (opcoverage.perf): added here because they parse with the helpers above.
RUN_OPTIONS += (
    Option("perf", "also time every passing case (once per op, target and dtype, on its first sample): steady-state "
                   "median and IQR at a small and a beyond-cache shape, first-call cost, GB/s, GFLOP/s and % of the "
                   "target's roofline measured in the same run; runs one worker with every core unless --jobs",
           _flag, False),
    Option("perf_budget", "seconds the --perf timing may take over the whole run, spread over its cases (each capped "
                          "between 0.05 and 2 s)", _positive("--perf-budget"), 120.0, "SECONDS"),
    Option("perf_threads", "intra-op threads the --perf workers run with (default: the cores shared among the "
                           "workers); 1 keeps other processes on a busy machine out of the timings",
           _positive("--perf-threads", int), None,
           "N"),
    Option("shapes_from", "with --perf: run only the ops these models call (zoo names, dotted paths to "
                          "(module, inputs) factories, .onnx files) and time each at the input shapes the model calls "
                          "it with most often, instead of the small and beyond-cache shapes", split_list, [],
           "MODEL,MODEL"),
)


DEFAULT_TIMEOUT_S = 120.0
_UNITS = {"": 2**20, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: Any) -> int:
    """A memory size for --max-memory: 8G, 8GiB, 512M, 4096 (MiB), or 0 / none for no cap (returned as 0)."""
    raw = str(text).strip().lower()
    if raw in ("0", "none", "off"):
        return 0
    number = raw.rstrip("ib").rstrip("kmgt")
    unit = raw[len(number):].rstrip("ib").rstrip("b")
    try:
        value = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        raise UsageError(f"--max-memory expects a size such as 8G, 512M or none, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"--max-memory must be positive (or none), got {text!r}")
    return int(value)


# Options of isolated runs: the CLI and the pytest form both run cases in worker processes.
RUN_OPTIONS += (
    Option("jobs", "worker processes per kind of device (default: one per core for CPU targets, one per accelerator)",
           _positive("-j/--jobs", int),
           None, "N", cli="--jobs"),
    Option("timeout", "seconds a case may run before it is killed and recorded as timeout", _positive("--timeout"),
           DEFAULT_TIMEOUT_S, "SECONDS"),
    Option("max_memory", "memory each CPU worker may allocate (8G, 512M, none); a case past it is a crash with "
                         "'out of memory' and only its worker dies (default: 80% of RAM shared among the CPU workers)",
           parse_bytes, None, "SIZE"),
    Option("resume", "continue an interrupted run: skip the cases already recorded for --out", _flag, False),
    Option("group_size", "cases of one op that a compile-per-case backend (IREE, ExecuTorch) builds as one "
                         "program, each case still run and judged on its own (default: the backend's own); 1 builds "
                         "every case alone", _positive("--group-size", int), None, "N"),
    Option("python", "TARGET=PYTHON[,...]: run TARGET under that interpreter, in an `opcoverage run` of its own "
                     "beside this one, into the same results file: a stack whose packages conflict with this "
                     "environment's (onnxruntime-openvino replaces onnxruntime)", lambda v: _pythons(v), {},
           "TARGET=PY"),
)


def _pythons(text: Any) -> dict[str, str]:
    pythons = {}
    for item in split_list(text):
        target, _, python = item.partition("=")
        if not target.strip() or not python.strip():
            raise UsageError(f"--python expects TARGET=PYTHON (onnxruntime:openvino=$HOME/ort-openvino/bin/python), "
                             f"got {item!r}")
        pythons[target.strip()] = python.strip()
    return pythons


@dataclass(frozen=True)
class RunConfig:
    targets: list[str] = field(default_factory=list)
    ops: list[str] = field(default_factory=list)
    dtypes: list[str] = field(default_factory=list)
    modes: Any = None  # [opcoverage.modes.Mode], from --modes; None: forward only
    cases: list[str] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)
    seed: int = 0
    samples: str = "quick"
    expect: Path | None = None
    out: Path | None = None
    suite: str | None = None
    shard: Any = None  # an opcoverage.execute.shard.Shard, from --shard K/N
    perf: bool = False
    perf_budget: float = 120.0
    perf_threads: int | None = None
    shapes_from: list[str] = field(default_factory=list)
    jobs: int | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    max_memory: int | None = None  # bytes per CPU worker; None: the default share of RAM; 0: no cap
    resume: bool = False
    group_size: int | None = None  # None: each backend's own (opcoverage.execute.groups)
    python: dict = field(default_factory=dict)  # target -> the interpreter it runs under (opcoverage.execute.foreign)
    given: tuple = ()  # (option, raw value) of each option set, as given: what a run under --python is passed

    @classmethod
    def from_values(cls, get: Callable[[Option], Any]) -> "RunConfig":
        """Build from any option source: an argparse namespace, a pytest config. Unset values fall back to OPCOV_*."""
        values: dict[str, Any] = {}
        given = []
        for option in RUN_OPTIONS:
            raw = get(option)
            if raw in (None, [], "") and os.environ.get(option.env):
                raw = os.environ[option.env]
            values[option.dest] = option.parse(raw) if raw not in (None, [], "") else option.default
            if raw not in (None, [], "", False):
                given.append((option, raw))
        config = cls(**values, given=tuple(given))
        if config.samples not in ("quick", "full"):
            raise UsageError(f"--samples must be quick or full, not {config.samples!r}")
        return config


def _help(option: Option, suffix: str = "") -> str:
    """An option's help as argparse (and pytest's parser) take it: they %-format help strings, so a literal % of
    the text ("80% of RAM") would otherwise break --help."""
    return (option.help + suffix).replace("%", "%%")


def add_argparse_options(parser) -> None:
    for option in RUN_OPTIONS:
        flags = [option.cli_flag] + (["-j"] if option.dest == "jobs" else [])
        if option.parse is _flag:
            parser.add_argument(*flags, dest=option.dest, help=_help(option), action="store_true", default=None)
            continue
        parser.add_argument(*flags, dest=option.dest, metavar=option.metavar, help=_help(option),
                            action="append" if option.repeat else "store", default=None)


def add_pytest_options(group) -> None:
    for option in RUN_OPTIONS:
        if option.parse is _flag:
            group.addoption(option.pytest_flag, dest=f"opcov_{option.dest}", action="store_true", default=None,
                            help=_help(option, f" [env {option.env}]"))
            continue
        group.addoption(option.pytest_flag, dest=f"opcov_{option.dest}", metavar=option.metavar,
                        help=_help(option, f" [env {option.env}]"),
                        action="append" if option.repeat else "store", default=None)


def from_argparse(namespace) -> RunConfig:
    return RunConfig.from_values(lambda o: getattr(namespace, o.dest, None))


def from_pytest(config) -> RunConfig:
    return RunConfig.from_values(lambda o: config.getoption(f"opcov_{o.dest}"))

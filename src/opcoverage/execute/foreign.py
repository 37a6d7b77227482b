"""Execution in another environment: a target run under another interpreter (--python), beside this run's workers.

A stack whose packages conflict with this environment's (onnxruntime-openvino replaces the onnxruntime package)
cannot share this process's workers. With ``--python onnxruntime:openvino=$HOME/ort-openvino/bin/python`` that
target runs as an `opcoverage run` of its own under that interpreter (which must have this checkout installed), with
the same options, started before this run's own cases and run beside them; its results file is then merged into
this run's, so one results file holds every target. The versions it ran with are kept per target
(``environment.targets[T].frameworks`` and ``.python``): they differ from this environment's. Its progress goes to
a log beside the results file, and its journal too, so ``--resume`` resumes it as well.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from opcoverage.errors import UsageError
from opcoverage.options import RunConfig

NOT_PASSED = ("targets", "out", "python", "resume", "expect")  # set for the run under the other interpreter here
CHECK_TIMEOUT_S = 120.0


@dataclass
class ForeignRun:
    target: str
    python: str
    out: Path
    log: Path
    process: subprocess.Popen | None = None


class ForeignRuns:
    """The runs of a config's --python targets: checked and started by ``start``, collected by ``finish``."""

    def __init__(self, config: RunConfig, folder: Path):
        unknown = [t for t in config.python if t not in config.targets]
        if unknown:
            raise UsageError(f"--python names {', '.join(unknown)}, which --targets does not list; add it to --targets")
        if config.shard is not None:
            raise UsageError("--python cannot be combined with --shard: a target run under another interpreter plans "
                             "its own cases; run that target's shards in its own environment and `opcoverage merge` them")
        self.config = config
        stem = config.out.name if config.out else "results"
        self.runs = [ForeignRun(t, _interpreter(t, p), folder / f".{stem}.{_safe(t)}.json",
                                folder / f".{stem}.{_safe(t)}.log") for t, p in config.python.items()]
        # this run's own targets, without the ones the other interpreters run
        self.local = replace(config, targets=[t for t in config.targets if t not in config.python], python={})

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {f"OPCOV_{n.upper()}" for n in NOT_PASSED}}
        for run in self.runs:
            with open(run.log, "w") as log:
                run.process = subprocess.Popen(_argv(self.config, run), stdout=log, stderr=subprocess.STDOUT,
                                               env=env, start_new_session=True)
            print(f"opcoverage: {run.target} runs under {run.python} beside this run (its output: {run.log})",
                  file=sys.stderr, flush=True)

    def finish(self) -> list[tuple[str, object]]:
        """Wait for each run; its results file, with the versions it ran under kept per target. A run that failed
        is bad input here (its own last line says why): this run then writes nothing, and the others are ended."""
        from opcoverage import results as res

        files = []
        for run in self.runs:
            assert run.process is not None
            code = run.process.wait()
            if code != 0 or not run.out.exists():
                why = _last_line(run.log)
                self.stop()
                self.cleanup()
                raise UsageError(f"{run.target} under {run.python} exited with code {code}: {why}")
            part = res.read(run.out)
            environment = dict(part.environment)
            targets = environment.get("targets", {})
            for target in targets:  # its frameworks are that environment's, not this one's
                targets[target] = {**targets[target], "python": environment.get("python"),
                                   "frameworks": environment.get("frameworks", {}), "interpreter": run.python}
            environment["frameworks"] = {}
            files.append((f"{run.target} under {run.python}", replace(part, environment=environment)))
        return files

    def cleanup(self) -> None:
        for run in self.runs:
            for path in (run.out, run.log):
                path.unlink(missing_ok=True)

    def stop(self) -> None:
        """End the runs still going (this run stopped on bad input or was interrupted); their journals stay."""
        for run in self.runs:
            if run.process is not None and run.process.poll() is None:
                try:
                    os.killpg(run.process.pid, 9)
                except OSError:
                    pass
                run.process.wait()


# Run by the other interpreter before anything starts: it has opcoverage, and the target is available there.
CHECK = """import sys
try:
    from opcoverage.backends import resolve_targets
    from opcoverage.errors import UsageError
except ImportError:
    sys.exit(3)
try:
    resolve_targets([sys.argv[1]])
except UsageError as exc:
    print(exc)
    sys.exit(2)
"""


def _interpreter(target: str, python: str) -> str:
    """The interpreter, checked: it exists, imports opcoverage and has the target."""
    found = shutil.which(os.path.expanduser(python))
    if found is None:
        raise UsageError(f"--python {target}={python}: no such interpreter; give the path of the environment's "
                         "python (such as $HOME/ort-openvino/bin/python)")
    try:
        done = subprocess.run([found, "-c", CHECK, target], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--python {target}={python}: the interpreter does not run ({exc})") from None
    if done.returncode == 3:
        root = Path(__file__).resolve().parents[3]
        raise UsageError(f"--python {target}={python}: it cannot import opcoverage; install this checkout there "
                         f"({found} -m pip install -e {root})")
    if done.returncode != 0:
        why = (done.stdout.strip() or done.stderr.strip() or f"exit code {done.returncode}").splitlines()[-1]
        raise UsageError(f"--python {target}={python}: {why}")
    return found


def _argv(config: RunConfig, run: ForeignRun) -> list[str]:
    """The command of a run under another interpreter: this run's options as they were given, its one target."""
    argv = [run.python, "-m", "opcoverage", "run", "--targets", run.target, "--out", str(run.out)]
    for option, raw in config.given:
        if option.dest in NOT_PASSED:
            continue
        if option.is_flag:  # set, or given as OPCOV_PERF=0, say
            argv += [option.cli_flag] if option.parse(raw) else []
            continue
        for value in raw if isinstance(raw, list) else [raw]:
            argv += [option.cli_flag, str(value)]
    return argv + (["--resume"] if config.resume else [])


def _safe(target: str) -> str:
    return target.replace(":", "-").replace("/", "-")


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1][-400:] if lines else "no output"

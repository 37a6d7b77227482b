"""Command line: `opcoverage targets | catalog | run | report | merge | check | baseline | audit | diff | trend | model`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from opcoverage import __version__
from opcoverage.errors import UsageError
from opcoverage.options import add_argparse_options, from_argparse

EXIT_OK, EXIT_GATE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors: one line, exit 2
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _cmd_targets(args) -> int:
    from tabulate import tabulate

    from opcoverage.backends import all_targets, broken, get_backend
    from opcoverage.modes import backend_modes

    rows = [(str(t), "yes" if i.available else "no", i.name if i.available else i.reason, i.driver,
             ",".join(backend_modes(get_backend(t.framework)))) for t, i in all_targets()]
    # A plugin that fails to load or answer is listed with its error; it never hides the other targets.
    rows += [(f"{name}:*", "no", f"broken plugin: {reason}", "", "") for name, reason in broken().items()]
    if args.json:
        print(json.dumps([{"target": r[0], "available": r[1] == "yes", "detail": r[2], "driver": r[3],
                           "modes": r[4].split(",") if r[4] else []} for r in rows], indent=1))
    else:
        print(tabulate(rows, headers=["target", "available", "device / why not", "driver", "modes"],
                       tablefmt="simple"))
    return EXIT_OK


def _cmd_catalog(args) -> int:
    from opcoverage.catalog.loader import load_catalog

    catalog = load_catalog(args.specs or None)
    if args.what == "gaps":
        return _catalog_gaps(catalog, args.json, args.models)
    entries = [{"name": op.name, "category": op.category, "samples": op.samples.family, "dtypes": list(op.dtypes),
                "reference": op.reference.call, "grad": list(op.grad) if op.grad is not None else None,
                "bindings": {k: b.call for k, b in op.bindings.items()}} for op in catalog]
    if args.json:
        print(json.dumps({"catalog": catalog.fingerprint, "ops": entries}, indent=1))
        return EXIT_OK
    from tabulate import tabulate

    rows = [(e["name"], e["category"], e["samples"], len(e["dtypes"]), e["bindings"].get("torch", "-"),
             e["bindings"].get("jax", "-"), e["bindings"].get("onnx", "-")) for e in entries]
    print(tabulate(rows, headers=["op", "category", "samples", "dtypes", "torch", "jax", "onnx"], tablefmt="simple"))
    print(f"\n{len(entries)} ops (catalog {catalog.fingerprint})")
    return EXIT_OK


def _catalog_gaps(catalog, as_json: bool, models: str | None = None) -> int:
    from opcoverage.catalog import opsets
    from opcoverage.catalog.trace import trace_catalog

    traced = trace_catalog(catalog)
    exclusions = opsets.load_exclusions()
    report = {}
    for name in opsets.OPSETS:
        try:
            report[name] = opsets.coverage(name, traced.get(opsets.BINDING_OF[name], ()), exclusions[name])
        except ImportError as exc:
            report[name] = {"error": f"framework not installed ({exc.name})"}
    if models is not None:
        report["models"] = _zoo_needs(models)
    if as_json:
        print(json.dumps(report, indent=1))
        return EXIT_OK
    needs = report.pop("models", None)
    for name, cov in report.items():
        if "error" in cov:
            print(f"{name}: {cov['error']}")
            continue
        print(f"{name}: {cov['covered']}/{cov['total']} ({cov['percent']}%), {len(cov['excluded'])} excluded")
        if cov["missing"]:
            print("  missing: " + ", ".join(cov["missing"]))
    if needs is not None:
        print(f"ops the models need that the catalog lacks ({len(needs)}), by how many models need them:")
        for op, users in needs.items():
            print(f"  {op}: {len(users)} ({', '.join(users)})")
    return EXIT_OK


def _zoo_needs(where: str) -> dict[str, list[str]]:
    """Framework op -> the zoo models (read from the manifest folder ``where``, or ``zoo``: traced or cached) whose
    usage no catalog op judges, most-needed first."""
    from opcoverage.models import sources
    from opcoverage.models.readiness import untested_ops
    from opcoverage.models.zoo import ZOO

    manifests = ([sources.zoo_manifest(n, "float32") for n in ZOO] if where == "zoo"
                 else sources.read_manifests([where]))
    needed = untested_ops(manifests)
    return {op: sorted(users) for op, users in sorted(needed.items(), key=lambda kv: (-len(kv[1]), kv[0]))}


def _cmd_run(args) -> int:
    from opcoverage import expectations as exp
    from opcoverage import results as res
    from opcoverage.execute.progress import Progress
    from opcoverage.execute.foreign import ForeignRuns
    from opcoverage.execute.session import RunSession
    from opcoverage.journal import journal_path

    config = from_argparse(args)
    expected = exp.load(config.expect) if config.expect else None  # read before running: fail fast on a bad file
    foreign = ForeignRuns(config, config.out.parent if config.out else Path.cwd()) if config.python else None
    local = foreign.local if foreign else config
    try:
        session = RunSession(local) if local.targets or foreign is None else None  # checked before anything starts
        if foreign:
            foreign.start()
        files = []
        if session is not None:
            print(f"opcoverage: running {len(session.cases)} cases on {', '.join(map(str, session.targets))} "
                  f"with {', '.join(f'{n} {lane} worker(s)' for lane, n in session.workers.items())}",
                  file=sys.stderr, flush=True)
            progress = Progress(len(session.cases))
            files.append(("this run", session.results_file(session.run(progress, on_resumed=progress.skip))))
        if foreign:
            files += foreign.finish()
    except BaseException:
        if foreign:
            foreign.stop()
        raise
    merged = files[0][1] if len(files) == 1 else res.merge(files)
    results = list(merged.results)
    if config.out:
        res.write(config.out, merged)
        journal_path(config.out).unlink(missing_ok=True)  # the results file now holds everything it recorded
        print(f"opcoverage: wrote {config.out}", file=sys.stderr)
    if foreign:
        foreign.cleanup()
    tally = res.counts(results)
    print("opcoverage: " + ", ".join(f"{v} {k}" for k, v in tally.items()))
    if expected is not None:
        return _print_gate(exp.gate(results, expected))
    return EXIT_OK


def _print_gate(report) -> int:
    for r in report.regressions[:50]:
        print(f"REGRESSION {r.id}: {r.status.value}: {r.message[:200]}")
    if len(report.regressions) > 50:
        print(f"... and {len(report.regressions) - 50} more regressions")
    for e in report.stale:
        print(f"STALE {e.where} {e.op} {','.join(e.dtypes) or 'all dtypes'}: now passes; remove it from {e.source}")
    for e in report.unmatched:
        print(f"UNMATCHED {e.where} {e.op}: matches no case that ran ({e.source})")
    print(f"opcoverage: {len(report.expected)} expected failures, {len(report.regressions)} regressions, "
          f"{len(report.stale)} stale expectations")
    return EXIT_OK if report.ok else EXIT_GATE


def _read_all(paths: list[str], whole: bool = False):
    from opcoverage import results as res

    return res.merge([(p, res.read(p)) for p in paths], whole=whole)


def _cmd_report(args) -> int:
    from opcoverage import expectations as exp
    from opcoverage import results as res
    from opcoverage.report.layout import Report, write

    if not 10_000 <= args.summary_budget < 1 << 20:
        raise UsageError(f"--summary-budget must be between 10000 and 1048575 bytes (GitHub's job summary cap is "
                         f"1 MiB), got {args.summary_budget}")
    merged = _read_all(args.files)
    gate = exp.gate(merged.results, exp.load(args.expect)) if args.expect else None
    changes = None
    if args.baseline:
        from opcoverage.diff import diff

        changes = diff(res.read(args.baseline), merged, Path(args.baseline).name, " + ".join(
            Path(p).name for p in args.files))
    audited = None
    if args.audit:
        from opcoverage.claims.audit import audit

        audited = audit(merged)
    stem = Path(args.out).stem if args.out else "report"
    report = Report(merged, [Path(p).name for p in args.files], stem, gate, audited, changes,
                    Path(args.out).name if args.out else None)
    if args.html:  # rendered before anything is written: a failure leaves no half of the set
        from opcoverage.report.html import render as render_html

        html = render_html(merged, [Path(p).name for p in args.files])
    summary = report.summary(args.summary_budget) if args.summary else None
    models = None
    if args.models:  # model readiness is a page of its own beside the index (or after it on stdout)
        models = "\n".join(["# Model readiness", ""] + _models_section(merged, args)).rstrip() + "\n"
    if args.out:
        out = Path(args.out)
        if not out.parent.exists():
            raise UsageError(f"cannot write {out}: folder {out.parent} does not exist; create it or choose another --out")
        for path in write(report, out):
            print(f"opcoverage: wrote {path}", file=sys.stderr)
    elif not (args.html or args.summary):
        sys.stdout.write(report.index())
    if models is not None:
        _emit(models, str(Path(args.out).with_name(f"{stem}-models.md")) if args.out else None)
    if args.html:
        _emit(html, args.html)
    if summary is not None:
        _emit(summary, args.summary)
    return EXIT_OK


def _models_section(merged, args) -> list[str]:
    from opcoverage.models import sources
    from opcoverage.models.commands import read_validations
    from opcoverage.models.zoo import ZOO
    from opcoverage.report.models import section

    manifests = (sources.read_manifests([args.manifests]) if args.manifests
                 else [sources.zoo_manifest(n, "float32") for n in ZOO])
    validations = [v for path in (args.validation or []) for v in read_validations(path)]
    return section(manifests, merged, validations or None)


def _cmd_merge(args) -> int:
    from opcoverage import results as res

    res.write(args.out, _read_all(args.files, whole=True))
    print(f"opcoverage: wrote {args.out}", file=sys.stderr)
    return EXIT_OK


def _cmd_check(args) -> int:
    from opcoverage import expectations as exp

    merged = _read_all(args.files)
    return _print_gate(exp.gate(merged.results, exp.load(args.expect)))


def _cmd_baseline(args) -> int:
    from opcoverage import expectations as exp
    from opcoverage.results import write_atomic

    from opcoverage import results as res

    out = Path(args.out)
    if not out.is_dir():
        raise UsageError(f"--out {out} is not a folder; create it first")
    # Expectations are about failures, whichever run showed them: files of other catalogs or seeds may be combined
    # here (the modes run of one catalog with the forward run of the next), a case in several taking the last one.
    by_id = {r.id: r for path in args.files for r in res.read(path).results}
    for name, text in exp.baseline(list(by_id.values())).items():
        write_atomic(out / name, text)
        print(f"opcoverage: wrote {out / name}", file=sys.stderr)
    return EXIT_OK


def _cmd_audit(args) -> int:
    from opcoverage.claims.audit import audit
    from opcoverage.report.audit import render as render_audit

    merged = _read_all(args.files)
    text = render_audit(audit(merged), [Path(p).name for p in args.files], merged.environment)
    _emit(text, args.out)
    return EXIT_OK


FAIL_ON = ("coverage", "perf")


def _fail_on(text: str | None) -> set[str]:
    kinds = {k.strip() for k in (text or "").split(",") if k.strip()}
    bad = kinds - set(FAIL_ON)
    if bad:
        raise UsageError(f"--fail-on takes {' and/or '.join(FAIL_ON)} (comma-separated), not {', '.join(sorted(bad))}")
    return kinds


def _cmd_diff(args) -> int:
    from opcoverage import results as res
    from opcoverage.diff import diff
    from opcoverage.report.diff import render as render_diff

    gates = _fail_on(args.fail_on)  # checked before reading: bad input fails fast
    if not 0 < args.threshold < 10:
        raise UsageError(f"--threshold is a fraction such as 0.1 (10%), got {args.threshold}")
    d = diff(res.read(args.base), res.read(args.new), Path(args.base).name, Path(args.new).name,
             threshold=args.threshold)
    text = json.dumps(d.to_json(), indent=1) + "\n" if args.json else render_diff(d)
    _emit(text, args.out)
    failed = ("coverage" in gates and d.regressions) or ("perf" in gates and d.perf_regressions)
    if failed:
        print(f"opcoverage: {len(d.regressions)} coverage regressions, {len(d.perf_regressions)} perf regressions "
              f"(--fail-on {args.fail_on})", file=sys.stderr)
    return EXIT_GATE if failed else EXIT_OK


def _cmd_trend(args) -> int:
    from opcoverage import trend
    from opcoverage.report.pictures import trend_chart
    from opcoverage.results import write_atomic

    merged = _read_all(args.files)
    path = Path(args.file)
    svg = Path(args.svg) if args.svg else path.with_suffix(".svg")
    lines = trend.read(path) + [trend.entry(merged, args.label or "", args.date)]  # read first: a bad file fails
    write_atomic(svg, trend_chart(lines, trend.pass_rate))
    trend.append(path, lines[-1])
    print(f"opcoverage: appended run {len(lines)} to {path}; drew {svg}", file=sys.stderr)
    return EXIT_OK


def _emit(text: str, out: str | None) -> None:
    """A rendered report goes to --out (whole or not at all) or to stdout."""
    if out:
        from opcoverage.results import write_atomic

        write_atomic(out, text)
        print(f"opcoverage: wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="opcoverage", description="Operator coverage matrices for ML backends.")
    parser.add_argument("--version", action="version", version=f"opcoverage {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("targets", help="list every known target and whether it is available here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_targets)

    p = sub.add_parser("catalog", help="list the catalog's ops and their bindings; `catalog gaps`: what each "
                                       "framework's op set has that the catalog does not exercise")
    p.add_argument("what", nargs="?", choices=["list", "gaps"], default="list")
    p.add_argument("--json", action="store_true")
    p.add_argument("--specs", action="append", metavar="DIR", help="spec folder(s) instead of the shipped catalog")
    p.add_argument("--models", nargs="?", const="zoo", metavar="DIR",
                   help="gaps: also rank the ops the zoo models (or the manifests in DIR) need that no catalog op covers")
    p.set_defaults(func=_cmd_catalog)

    p = sub.add_parser("run", help="run the catalog on targets and write a results file")
    add_argparse_options(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="render results file(s) as a Markdown coverage report: with --out X.md, an "
                                      "index X.md plus a page, a CSV and a dtype heatmap per target beside it")
    p.add_argument("files", nargs="+", metavar="RESULTS.json")
    p.add_argument("--out", metavar="FILE", help="write the report here (default: stdout)")
    p.add_argument("--expect", metavar="DIR", help="expected-failure folder: adds regressions and stale entries")
    p.add_argument("--audit", action="store_true", help="add the claims-versus-measured audit (see `audit`) to each "
                                                        "target's page")
    p.add_argument("--baseline", metavar="BASE.json", help="a results file to compare with: the index page (and the "
                                                           "--summary) open with the changes since it")
    p.add_argument("--html", metavar="FILE", help="also write one self-contained HTML file with every record, "
                                                  "sortable and filterable (no network needed)")
    p.add_argument("--summary", metavar="FILE", help="also write a CI job summary: the changes since --baseline at "
                                                     "the top, then the index, within --summary-budget bytes")
    p.add_argument("--summary-budget", type=int, default=500_000, metavar="BYTES",
                   help="byte budget of --summary (default 500000; GitHub drops a summary near its 1 MiB cap)")
    p.add_argument("--models", action="store_true", help="add model readiness (a page X-models.md beside the index): a "
                                                         "model x target table, blocking ops and the ops the models "
                                                         "need that the catalog lacks")
    p.add_argument("--manifests", metavar="DIR", help="--models: the manifests in this folder (default: the zoo, "
                                                      "traced or from the cache)")
    p.add_argument("--validation", metavar="FILE", action="append",
                   help="--models: whole-model runs (`model zoo --validate --out`) to check the predictions against; "
                        "repeat for more files")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("merge", help="merge results files (CI shards) into one")
    p.add_argument("files", nargs="+", metavar="RESULTS.json")
    p.add_argument("--out", required=True, metavar="FILE")
    p.set_defaults(func=_cmd_merge)

    p = sub.add_parser("check", help="gate: exit 1 when a failure is not in the expected-failure files")
    p.add_argument("files", nargs="+", metavar="RESULTS.json")
    p.add_argument("--expect", required=True, metavar="DIR")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("baseline", help="write expected-failure files that accept the failures in results file(s); "
                                        "a case in several files takes its record from the last")
    p.add_argument("files", nargs="+", metavar="RESULTS.json")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=_cmd_baseline)

    p = sub.add_parser("audit", help="each op x dtype cell: what the framework's registry claims versus what was "
                                     "measured, disagreements first")
    p.add_argument("files", nargs="+", metavar="RESULTS.json")
    p.add_argument("--out", metavar="FILE", help="write the audit here (default: stdout)")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("diff", help="what changed from one results file to another: environment, regressions, fixes, "
                                    "new and removed cases, error growth, perf regressions")
    p.add_argument("base", metavar="BASE.json")
    p.add_argument("new", metavar="NEW.json")
    p.add_argument("--json", action="store_true", help="write the diff as JSON instead of Markdown")
    p.add_argument("--out", metavar="FILE", help="write the diff here (default: stdout)")
    p.add_argument("--fail-on", metavar="KINDS", help="exit 1 on regressions of these kinds: coverage (a case that "
                                                      "passed no longer does), perf (a significant slow-down)")
    p.add_argument("--threshold", type=float, default=0.10, metavar="FRACTION",
                   help="smallest normalised perf change to flag (default 0.10: 10%%)")
    p.set_defaults(func=_cmd_diff)

    p = sub.add_parser("trend", help="append one line per run (date, versions, counts per target) to a trend file "
                                     "and draw it as SVG")
    p.add_argument("files", nargs="+", metavar="RESULTS.json")
    p.add_argument("--file", required=True, metavar="TREND.jsonl", help="the trend file (created if absent)")
    p.add_argument("--svg", metavar="FILE", help="where to draw the chart (default: the trend file's name, .svg)")
    p.add_argument("--label", metavar="TEXT", help="the run's label on the chart, e.g. a commit or a driver version")
    p.add_argument("--date", metavar="ISO", help="the run's date (default: now, UTC)")
    p.set_defaults(func=_cmd_trend)

    from opcoverage.models.commands import add_parser as add_model_parser

    add_model_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(f"opcoverage: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("opcoverage: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Command line for model readiness: `opcoverage model NAME|PATH|zoo` (manifest, --results readiness, --validate)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from opcoverage.errors import UsageError

VALIDATION_VERSION = 2


def add_parser(sub) -> None:
    p = sub.add_parser("model", help="a model's op usage (manifest), its readiness per target from a results file "
                                     "(--results), or a whole-model run checked against float64 (--validate)")
    p.add_argument("ref", metavar="NAME|PATH", help="a zoo model (see `opcoverage model list`), `zoo` for all of "
                                                    "them, an .onnx file, or package.module.factory returning "
                                                    "(torch module, example inputs) or (jax function, example args)")
    p.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16: the model's parameters and "
                                                      "floating inputs are cast to it (default float32)")
    p.add_argument("--out", metavar="FILE|DIR", help="write the manifest (a folder for `zoo`), or with --validate the "
                                                     "validation records, here")
    p.add_argument("--results", action="append", metavar="RESULTS.json", help="print readiness per target from "
                                                                             "these results file(s)")
    p.add_argument("--targets", metavar="T,T", help="targets for --results (default: those in the file) or --validate")
    p.add_argument("--validate", action="store_true", help="run the whole model on each of --targets and compare "
                                                           "it with the float64 CPU run")
    p.add_argument("--perf", action="store_true", help="time each op the model calls at the shapes it calls it with, "
                                                       "on each of --targets, and say where each target's time goes")
    p.add_argument("--perf-budget", type=float, default=0.2, metavar="SECONDS",
                   help="--perf: seconds of timing per op and target (default 0.2)")
    p.add_argument("--perf-threads", type=int, default=1, metavar="N",
                   help="--perf: intra-op threads for torch and ONNX Runtime (default 1, as conformance workers run)")
    p.add_argument("--manifests", metavar="DIR", help="read zoo manifests from this folder when it has them "
                                                      "(e.g. the committed reports/models)")
    p.add_argument("--specs", action="append", metavar="DIR", help="spec folder(s) instead of the shipped catalog")
    p.set_defaults(func=run)


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def run(args) -> int:
    from opcoverage.models import sources, zoo

    specs = tuple(args.specs or ())
    if args.ref == "list":
        for entry in zoo.ZOO.values():
            print(f"{entry.name:14} {entry.domain:9} {entry.description}")
        return 0
    names = list(zoo.ZOO) if args.ref == "zoo" else [args.ref]
    targets = _split(args.targets)
    if args.validate:
        if not targets:
            raise UsageError("--validate needs --targets, e.g. --targets torch:cpu,onnxruntime:cpu")
        return _validate(names, targets, args.dtype, args.out)
    if args.perf:
        if not targets:
            raise UsageError("--perf needs --targets, e.g. --targets torch:cpu,jax:cpu,onnxruntime:cpu")
        if args.perf_budget <= 0:
            raise UsageError(f"--perf-budget must be positive, got {args.perf_budget}")
        return _perf(names, args, targets, specs)
    if args.results:
        return _readiness(names, args, targets, specs)
    if args.ref == "zoo":
        if not args.out or not Path(args.out).is_dir():
            raise UsageError("`opcoverage model zoo` writes one manifest per model: pass --out FOLDER (an existing one)")
        for name in names:
            manifest = sources.build_manifest(name, args.dtype, specs)
            path = Path(args.out) / sources.manifest_name(name, args.dtype)
            from opcoverage.models.manifest import write

            write(path, manifest)
            print(f"opcoverage: wrote {path} ({_summary(manifest)})", file=sys.stderr)
        return 0
    manifest = sources.build_manifest(args.ref, args.dtype, specs)
    from opcoverage.models.manifest import write

    if args.out:
        write(args.out, manifest)
        print(f"opcoverage: wrote {args.out} ({_summary(manifest)})", file=sys.stderr)
    else:
        print(json.dumps(manifest.to_json(), indent=1))
    return 0


def _summary(manifest) -> str:
    parts = [f"{mode}: {u.calls} calls of {len({o.name for o in u.ops})} ops" for mode, u in manifest.modes.items()]
    if manifest.exported:
        parts.append(f"ONNX export: {manifest.exported['forward'].calls} nodes")
    return ", ".join(parts)


def _manifest(name: str, args, specs):
    from opcoverage.models import sources, zoo

    if name in zoo.ZOO:
        return sources.zoo_manifest(name, args.dtype, args.manifests, specs)
    return sources.build_manifest(name, args.dtype, specs)


def _perf(names, args, targets, specs) -> int:
    import os

    from opcoverage.models import perf

    if args.perf_threads <= 0:
        raise UsageError(f"--perf-threads must be positive, got {args.perf_threads}")
    os.environ["OPCOV_THREADS"] = str(args.perf_threads)  # read by the backends when they start their pools
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(args.perf_threads)

    parts = []
    for name in names:
        manifest = _manifest(name, args, specs)
        if manifest.environment.get("fake_tensors"):
            parts.append(f"{name}: a full-size config on fake tensors; its shapes are real, but time it from a "
                         "factory that builds it for real\n")
            continue
        parts.append(perf.render(perf.time_model(manifest, targets, args.perf_budget, specs=specs), manifest.model))
    text = "\n".join(parts)
    if args.out:
        from opcoverage.results import write_atomic

        write_atomic(args.out, text)
        print(f"opcoverage: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _readiness(names, args, targets, specs) -> int:
    from opcoverage import results as res
    from opcoverage.models.manifest import MODES
    from opcoverage.models.readiness import Verdicts, readiness

    merged = res.merge([(p, res.read(p)) for p in args.results])
    verdicts = Verdicts(merged.results)
    for t in targets:
        if t not in verdicts.targets:
            raise UsageError(f"target {t} is not in {', '.join(args.results)} (it has {', '.join(sorted(verdicts.targets))})")
    for name in names:
        manifest = _manifest(name, args, specs)
        for t in targets or sorted(verdicts.targets):
            for mode in MODES:
                print(readiness(manifest, verdicts, t, mode).line())
    return 0


def _validate(names, targets, dtype, out) -> int:
    from opcoverage.backends import available_targets
    from opcoverage.models import sources, zoo
    from opcoverage.models.manifest import MODES
    from opcoverage.models.validate import Validation, validate_jax_model, validate_torch_model
    from opcoverage.types import Target

    here = {str(t) for t in available_targets()}
    for t in targets:
        if str(Target.parse(t)) not in here:
            raise UsageError(f"target {t} is not available here; `opcoverage targets` lists what is")
    records = []
    for name in names:
        entry = zoo.ZOO.get(name)
        if entry is not None and entry.fake:
            records += [Validation(name, t, mode, dtype, "n/a", message="full-size config on fake tensors: never run")
                        for t in targets for mode in MODES]
            for r in records[-len(targets) * len(MODES):]:
                print(r.line())
            continue
        if entry is not None:
            factory = entry.factory
        elif name.endswith(".onnx"):
            raise UsageError(f"--validate runs torch models; {name} is an ONNX file, which has no float64 reference "
                             "model to compare with")
        else:
            factory = sources.resolve_factory(name)
            product = factory()  # built once: a jax factory's function is validated on jax targets
            factory = (lambda product=product: product)
        validate = validate_torch_model
        if entry is None and not sources.is_torch_module(factory()[0]):
            validate = validate_jax_model
        for t in targets:
            for mode in MODES:
                record = validate(name.rsplit(".", 1)[-1] if entry is None else name, factory, t, mode, dtype)
                records.append(record)
                print(record.line(), flush=True)
    if out:
        from opcoverage.results import write_atomic

        write_atomic(out, json.dumps({"validation_version": VALIDATION_VERSION, "dtype": dtype,
                                      "validations": [r.to_json() for r in records]}, indent=1) + "\n")
        print(f"opcoverage: wrote {out}", file=sys.stderr)
    return 0


def read_validations(path: str):
    from opcoverage.models.validate import Validation

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"validation file {path} does not exist; write it with "
                         "`opcoverage model zoo --validate --targets T --out FILE`") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read validation file {path} ({exc})") from None
    if not isinstance(data, dict) or data.get("validation_version") != VALIDATION_VERSION:
        raise UsageError(f"{path} is not a validation file of version {VALIDATION_VERSION}; regenerate it with "
                         "`opcoverage model zoo --validate --targets T --out FILE`")
    return [Validation.from_json(r) for r in data["validations"]]

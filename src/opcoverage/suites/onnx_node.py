"""The `onnx-node` suite: onnx's backend node tests planned as cases, run on ONNX targets, judged by onnx's rules.

Each test is onnx's own model with onnx's inputs and expected outputs; a case is one test x data set x
target, named by the test (``test_add_bcast-onnxruntime:cpu-float32-s0``). Verdicts follow
``onnx.backend.test.runner.Runner.assert_similar_outputs``: the same output count, shapes and dtypes, strings
equal, values within ``numpy.testing.assert_allclose`` (NaN equal to NaN) at the test's rtol/atol (1e-3 and
1e-7 for every node test), with bfloat16 compared in float32 at rtol no tighter than 2**-6.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import time
from typing import Any

import numpy as np

from opcoverage.backends.base import NotApplicable
from opcoverage.compare import Comparison
from opcoverage.errors import UsageError
from opcoverage.suites import check_targets
from opcoverage.suites import onnx_data
from opcoverage.types import CaseResult, Status, Target

MESSAGE_LIMIT = 600
BFLOAT16_RTOL = 2.0 ** -6  # onnx's runner: "Two bfloat16 ULPs"


class OnnxNodeSuite:
    name = "onnx-node"
    binding = "onnx"
    category = "onnx-node"

    def __init__(self):
        import onnx

        self.root, self.tests = onnx_data.node_tests()
        self.source = f"onnx {onnx.__version__}"
        digest = hashlib.sha256(json.dumps(self.tests, sort_keys=True).encode()).hexdigest()[:12]
        self.fingerprint = f"{self.name}:onnx-{onnx.__version__}:{digest}"

    def environment(self) -> dict[str, Any]:
        return {"suite": self.name, "suite_source": {
            "package": self.source, "data": str(self.root), "tests": len(self.tests),
            "tolerance": "each test's rtol/atol (onnx.backend.test: 1e-3/1e-7); bfloat16 at rtol >= 2**-6",
        }}

    def plan(self, targets: list[Target], ops: list[str], dtypes: list[str], cases: list[str]) -> list[Any]:
        from opcoverage.execute.runner import Case

        check_targets(self, targets)
        known_dtypes = {t["dtype"] for t in self.tests.values()}
        unknown = [d for d in dtypes if d not in known_dtypes]
        if unknown:
            raise UsageError(f"no {self.name} test has first input dtype {', '.join(unknown)} (--dtypes); "
                             f"its dtypes: {', '.join(sorted(known_dtypes))}")
        planned = []
        for name in self.select(ops):
            test = self.tests[name]
            if dtypes and test["dtype"] not in dtypes:
                continue
            label = f"{test['op_type']}({', '.join(test['inputs'])})"
            for index in range(test["datasets"]):
                for target in targets:
                    case = Case(name, target, test["dtype"], f"s{index}", label, suite=self.name)
                    if not case.wanted(cases):
                        continue
                    planned.append(case)
        return planned

    def select(self, ops: list[str]) -> list[str]:
        """Test names chosen by --ops: a test name, an op type (Add, add), or a glob over either."""
        if not ops:
            return list(self.tests)
        chosen: dict[str, None] = {}
        for item in ops:
            if item in self.tests:
                matches = [item]
            elif any(c in item for c in "*?["):
                matches = [n for n, t in self.tests.items()
                           if fnmatch.fnmatchcase(n, item) or fnmatch.fnmatchcase(t["op_type"], item)]
            else:
                matches = [n for n, t in self.tests.items() if t["op_type"].lower() == item.lower()]
            if not matches:
                close = sorted(n for n in self.tests if item.lower().removeprefix("test_") in n)[:6]
                hint = f" (similar: {', '.join(close)})" if close else ""
                raise UsageError(f"--ops {item} is neither a test name nor an op type of the {self.name} suite"
                                 f"{hint}; write e.g. test_add_bcast, 'test_add*' or Add")
            chosen.update(dict.fromkeys(matches))
        return list(chosen)

    def run(self, case: Any) -> CaseResult:
        """Run one case in this process, as onnx's runner would, but record instead of raising."""
        import onnx

        from opcoverage.backends import get_backend

        test = self.tests[case.op]
        backend = get_backend(case.target.framework)
        extra = {"suite": self.name, "op_type": test["op_type"]}
        if test["domain"]:  # ai.onnx.preview.training and the like
            extra["domain"] = test["domain"]
        base = dict(op=case.op, target=str(case.target), dtype=case.dtype, sample=case.sample,
                    sample_desc=case.label, reference=f"{self.source} node test data", extra=extra)
        test_dir = self.root / case.op
        try:
            model_bytes = (test_dir / "model.onnx").read_bytes()
            model = onnx.ModelProto.FromString(model_bytes)
            inputs, expected = onnx_data.load_dataset(test_dir, model, int(case.sample[1:]))
        except NotImplementedError as exc:
            return CaseResult(**base, status=Status.SKIPPED, message=f"{self.name}: {exc}"[:MESSAGE_LIMIT])
        except Exception as exc:
            return CaseResult(**base, status=Status.ERROR, message=f"cannot read the test's data in {test_dir}: "
                                                                    f"{_message(exc)}"[:MESSAGE_LIMIT])
        feeds = {info.name: value for info, value in zip(model.graph.input, inputs)}
        start = time.perf_counter()
        try:
            execution = backend.run_model(model_bytes, feeds, case.target.device)
        except NotApplicable as exc:
            return CaseResult(**base, status=Status.SKIPPED, message=str(exc)[:MESSAGE_LIMIT])
        except Exception as exc:
            return CaseResult(**base, status=backend.classify(exc), message=_message(exc),
                              duration_s=time.perf_counter() - start)
        duration = time.perf_counter() - start
        result = compare_outputs(expected, list(execution.outputs), test["rtol"], test["atol"])
        status, message = result.status, result.message
        if execution.fallback:
            verdict = "correct" if result.status is Status.PASS else f"and wrong: {result.message}"
            status, message = Status.FALLBACK, f"{execution.fallback} (result {verdict})"
        return CaseResult(**base, status=status, message=message[:MESSAGE_LIMIT], max_abs_err=result.max_abs_err,
                          max_rel_err=result.max_rel_err, dispatched=execution.dispatched, duration_s=duration)


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:MESSAGE_LIMIT]


def compare_outputs(expected: list[Any], actual: list[Any], rtol: float, atol: float) -> Comparison:
    """onnx's `assert_similar_outputs` as a verdict: pass, or mismatch with what differs and by how much."""
    if len(actual) != len(expected):
        return Comparison(Status.MISMATCH, f"returned {len(actual)} output(s), expected {len(expected)}")
    problems: list[str] = []
    worst = [0.0, 0.0]
    for i, (want, got) in enumerate(zip(expected, actual)):
        _compare_value(want, got, rtol, atol, f"output {i}" if len(expected) > 1 else "", problems, worst)
    if problems:
        return Comparison(Status.MISMATCH, "; ".join(problems), worst[0], worst[1])
    return Comparison(Status.PASS, "", worst[0], worst[1])


def _compare_value(want: Any, got: Any, rtol: float, atol: float, label: str, problems: list[str],
                   worst: list[float]) -> None:
    prefix = f"{label}: " if label else ""
    if isinstance(want, (list, tuple)):  # a sequence: element by element
        if not isinstance(got, (list, tuple)):
            problems.append(f"{prefix}a {type(got).__name__}, expected a sequence of {len(want)}")
        elif len(got) != len(want):
            problems.append(f"{prefix}a sequence of {len(got)}, expected {len(want)}")
        else:
            for j, (w, g) in enumerate(zip(want, got)):
                _compare_value(w, g, rtol, atol, f"{label}[{j}]", problems, worst)
        return
    if want is None or got is None:  # an optional: empty on both sides, or on neither
        if (want is None) != (got is None):
            problems.append(f"{prefix}{'empty' if got is None else 'a value'}, expected "
                            f"{'an empty optional' if want is None else 'a value'}")
        return
    want, got = np.asarray(want), np.asarray(got)
    if got.shape != want.shape:
        problems.append(f"{prefix}shape {list(got.shape)}, expected {list(want.shape)}")
        return
    if want.dtype == object:  # strings are compared for equality, as onnx does
        if not np.array_equal(got.astype(object), want):
            problems.append(f"{prefix}{int((got.astype(object) != want).sum())} of {want.size} strings differ")
        return
    if got.dtype != want.dtype:
        problems.append(f"{prefix}dtype {got.dtype.name}, expected {want.dtype.name}")
        return
    if _identical(got, want):  # the common case, decided without isclose's overhead; errors are zero
        return
    if want.dtype.name == "bfloat16":
        rtol = max(rtol, BFLOAT16_RTOL)
    if want.dtype.isbuiltin == 2:  # ml_dtypes (bfloat16, float8, int4, ...): NumPy's isclose cannot take them
        got, want = got.astype(np.float32), want.astype(np.float32)
    with np.errstate(all="ignore"):
        close = np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)  # what assert_allclose checks
        g, w = got.astype(np.float64), want.astype(np.float64)
        finite = np.isfinite(g) & np.isfinite(w)
        diff = np.where(finite, np.abs(g - w), 0.0)
        rel = np.where(finite & (w != 0), diff / np.where(w == 0, 1.0, np.abs(w)), 0.0)
    if diff.size:
        worst[0], worst[1] = max(worst[0], float(diff.max())), max(worst[1], float(rel.max()))
    bad = int((~close).sum())
    if bad:
        at = tuple(int(i) for i in np.argwhere(~close)[0])
        problems.append(f"{prefix}{bad} of {want.size} values differ (first at {list(at)}: got {g[at]:.6g}, "
                        f"expected {w[at]:.6g}); max abs err {float(diff.max()):.3g}, max rel err "
                        f"{float(rel.max()):.3g} at rtol={rtol:g} atol={atol:g}")


def _identical(got: np.ndarray, want: np.ndarray) -> bool:
    """Bit-for-bit the same values (NaN where NaN is expected): isclose would pass every element."""
    if want.dtype.isbuiltin == 2:
        return got.tobytes() == want.tobytes()
    return bool(np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"))

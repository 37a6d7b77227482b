"""executorch:xnnpack and executorch:portable on real single-op programs: a delegated add passes, an op XNNPACK leaves
to the portable kernels is a fallback naming them, a non-Core-ATen op is unsupported at the convert stage, a
missing kernel is unsupported at the run stage, and built programs (and failed builds) come from the compile cache the
second time."""

from __future__ import annotations

import pytest

pytest.importorskip("executorch", reason="executorch is not installed (pip install 'opcoverage[executorch]')")

from opcoverage.backends import resolve_targets  # noqa: E402
from opcoverage.catalog.loader import load_catalog  # noqa: E402
from opcoverage.claims import CaseSource  # noqa: E402
from opcoverage.claims.executorch import ExecuTorchClaims  # noqa: E402
from opcoverage.execute.runner import plan_cases, run_case  # noqa: E402
from opcoverage.types import Status, Target  # noqa: E402

SPECS = """
[add]
category = "elementwise_binary"
samples = "binary"
dtypes = ["float32"]
reference = "numpy.add"
torch = "torch.add"

[erf]
category = "elementwise_unary"
samples = "unary"
dtypes = ["float32"]
reference = "scipy.special.erf"
torch = "torch.erf"

[linalg_det]
category = "linalg"
samples = { family = "tensors", cases = [{ inputs = [[3, 3]], label = "3x3" }] }
dtypes = ["float32"]
reference = "numpy.linalg.det"
torch = "torch.linalg.det"

[sort_values]
category = "sorting"
samples = { family = "tensors", cases = [{ inputs = [[5]], label = "5" }] }
dtypes = ["float32"]
reference = "numpy.sort"
torch = "torch.ops.aten.sort.default"
"""


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """One catalog and one compile cache for the module: a program built by one test is a cache hit in the next."""
    folder = tmp_path_factory.mktemp("specs")
    (folder / "ops.toml").write_text(SPECS, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPCOV_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        from opcoverage.backends import executorch

        executorch._cache.cache_clear()  # the cache folder follows OPCOV_CACHE_DIR
        yield load_catalog([folder])
        executorch._cache.cache_clear()


def _result(catalog, op, target):
    (case,) = [c for c in plan_cases(catalog, resolve_targets([target]), ops=[op]) if c.sample == "s0"]
    return run_case(catalog, case)


def test_add_is_delegated_to_xnnpack_and_passes_then_comes_from_the_cache(catalog):
    first = _result(catalog, "add", "executorch:xnnpack")
    assert first.status is Status.PASS, first.message
    assert first.extra["delegate_calls"] == 1 and first.extra["portable_ops"] == []
    assert first.extra["delegated_ops"] == ["aten::add.Tensor"] and first.extra["cache"] == "built"
    again = _result(catalog, "add", "executorch:xnnpack")
    assert again.status is Status.PASS and again.extra["cache"] == "hit"


def test_erf_left_to_the_portable_kernels_is_a_fallback_on_xnnpack_and_a_pass_on_portable(catalog):
    xnnpack = _result(catalog, "erf", "executorch:xnnpack")
    assert xnnpack.status is Status.FALLBACK
    assert "portable kernels ran aten::erf" in xnnpack.message and xnnpack.extra["delegate_calls"] == 0
    portable = _result(catalog, "erf", "executorch:portable")
    assert portable.status is Status.PASS, portable.message


def test_det_outside_core_aten_is_unsupported_at_the_convert_stage_and_fails_again_from_the_cache(catalog):
    result = _result(catalog, "linalg_det", "executorch:portable")
    assert result.status is Status.UNSUPPORTED and result.extra["stage"] == "convert"
    assert "not in Core ATen" in result.message and "cache" not in result.extra
    again = _result(catalog, "linalg_det", "executorch:portable")  # the kept failure, not a second lowering
    assert (again.status, again.message, again.extra["stage"], again.dispatched) == (
        result.status, result.message, "convert", result.dispatched)
    assert again.extra["cache"] == "hit" and again.duration_s < result.duration_s / 5


def test_a_kernel_missing_from_the_runtime_is_unsupported_at_the_run_stage(catalog):
    result = _result(catalog, "sort_values", "executorch:portable")
    assert result.status is Status.UNSUPPORTED and result.extra["stage"] == "run"
    assert "Missing operator: aten::sort.values" in result.message


def test_claims_name_what_the_partitioner_and_the_kernel_registry_know(catalog):
    cases = CaseSource({"seed": 0, "samples": "quick"})
    add = _result(catalog, "add", "executorch:xnnpack")
    erf = _result(catalog, "erf", "executorch:xnnpack")
    xnnpack = ExecuTorchClaims(Target("executorch", "xnnpack"), cases)
    assert xnnpack.claims_for(add).claimed is True
    assert xnnpack.claims_for(erf).claimed is False and "aten::erf" in xnnpack.claims_for(erf).detail
    portable = ExecuTorchClaims(Target("executorch", "portable"), cases)
    assert portable.claims_for(erf).claimed is True

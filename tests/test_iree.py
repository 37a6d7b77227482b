"""iree:llvm-cpu on real single-node ONNX models: float32 passes (and is cached), float64 is never a pass (IREE demotes
it to float32), a node the compiler cannot legalize is unsupported at the compile stage; GPU targets are explained."""

from __future__ import annotations

import pytest

pytest.importorskip("iree.compiler", reason="iree-base-compiler is not installed (pip install 'opcoverage[iree]')")
pytest.importorskip("iree.runtime", reason="iree-base-runtime is not installed (pip install 'opcoverage[iree]')")

from opcoverage.backends import get_backend, resolve_targets  # noqa: E402
from opcoverage.catalog.loader import load_catalog  # noqa: E402
from opcoverage.execute.runner import plan_cases, run_case  # noqa: E402
from opcoverage.types import Status  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    catalog = load_catalog()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPCOV_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        from opcoverage.backends import iree

        iree._cache.cache_clear()

        def one(case_id):
            (case,) = plan_cases(catalog, resolve_targets(["iree:llvm-cpu"]), cases=[case_id])
            return run_case(catalog, case)

        yield one
        iree._cache.cache_clear()


def test_gpu_targets_are_listed_with_what_they_need():
    devices = {d.device: d for d in get_backend("iree").devices()}
    assert devices["llvm-cpu"].available
    for device in ("vulkan", "cuda", "rocm"):
        assert devices[device].available or devices[device].reason


def test_add_and_relu_pass_in_float32_and_the_second_build_is_a_cache_hit(run):
    add = run("add-iree:llvm-cpu-float32-s0")
    assert add.status is Status.PASS, add.message
    assert add.extra["cache"] == "built" and add.dispatched == ("Add",)
    assert run("add-iree:llvm-cpu-float32-s0").extra["cache"] == "hit"
    relu = run("relu-iree:llvm-cpu-float32-s0")
    assert relu.status is Status.PASS, relu.message


def test_float64_demoted_to_float32_is_not_a_pass(run):
    result = run("add-iree:llvm-cpu-float64-s0")
    assert result.status is not Status.PASS
    assert "demotes float64 to float32" in result.message and result.extra["stage"] == "run"


def test_a_node_the_compiler_cannot_legalize_is_unsupported_at_the_compile_stage(run):
    result = run("fft_fft-iree:llvm-cpu-float32-s1")
    assert result.status is Status.UNSUPPORTED and result.extra["stage"] == "compile"
    assert "failed to legalize" in result.message


def test_a_compiler_that_dies_from_a_signal_is_a_crash_of_its_own_case(run, tmp_path, monkeypatch):
    """Fault injection: an iree-compile that segfaults, found first on IREE_TOOL_PATH (compile_str's own lookup)."""
    tool = tmp_path / "iree-compile"
    tool.write_text("#!/bin/sh\nkill -SEGV $$\n")
    tool.chmod(0o755)
    monkeypatch.setenv("IREE_TOOL_PATH", str(tmp_path))
    monkeypatch.setenv("OPCOV_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached: the compiler must run
    from opcoverage.backends import iree

    iree._cache.cache_clear()
    result = run("mul-iree:llvm-cpu-float32-s0")
    iree._cache.cache_clear()
    assert result.status is Status.CRASH and "SIGSEGV" in result.message and result.extra["stage"] == "compile"


def test_a_compile_past_its_deadline_is_a_timeout_kept_for_the_next_run(run, tmp_path, monkeypatch):
    """Fault injection: an iree-compile that never finishes (as circular_pad's Pad "wrap" does) is killed at the
    deadline, the case is a `timeout` at the compile stage, and a later run replays it without compiling."""
    calls = tmp_path / "calls"
    tool = tmp_path / "iree-compile"
    tool.write_text(f"#!/bin/sh\necho run >> {calls}\nexec sleep 60\n")
    tool.chmod(0o755)
    resolve_targets(["iree:llvm-cpu"])  # found available with the real compiler (the probe is kept)
    monkeypatch.setenv("IREE_TOOL_PATH", str(tmp_path))
    monkeypatch.setenv("OPCOV_CACHE_DIR", str(tmp_path / "cache"))
    from opcoverage.backends import iree

    monkeypatch.setattr(iree, "COMPILE_DEADLINE_S", 1.0)
    iree._cache.cache_clear()
    first = run("neg-iree:llvm-cpu-float32-s0")
    iree._cache.cache_clear()
    again = run("neg-iree:llvm-cpu-float32-s0")
    iree._cache.cache_clear()
    assert first.status is Status.TIMEOUT and first.extra["stage"] == "compile", first.message
    assert "did not finish within 1 s" in first.message and first.duration_s < 10
    assert again.status is Status.TIMEOUT and again.message == first.message and again.extra["cache"] == "hit"
    assert calls.read_text().split() == ["run"]  # the second run did not start the compiler

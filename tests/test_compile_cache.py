"""The shared pieces of compile-per-case backends: the failure-stage mark and the on-disk compile cache."""

from __future__ import annotations

import pytest

from opcoverage.backends.base import at_stage, failed_stage
from opcoverage.cache import CompileCache, cache_root
from opcoverage.types import Stage


def test_the_innermost_stage_marks_an_exception():
    with pytest.raises(ValueError) as caught:
        with at_stage(Stage.COMPILE):
            with at_stage(Stage.CONVERT):
                raise ValueError("no rule")
    assert failed_stage(caught.value) is Stage.CONVERT
    assert failed_stage(ValueError("unmarked")) is None


def test_cache_builds_once_then_hits_and_follows_opcov_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("OPCOV_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    cache = CompileCache("stack", {"stack": "1.0"}, suffix=".bin")
    key = cache.key(op="add", dtype="float32", signature="f32[3],f32[3]", opset=28, target="cpu")
    builds = []
    first = cache.get_or_build(key, lambda: builds.append(1) or b"artefact")
    again = CompileCache("stack", {"stack": "1.0"}, suffix=".bin").get_or_build(key, lambda: b"other")
    assert first == (b"artefact", False) and again == (b"artefact", True) and builds == [1]
    assert cache.path(key).is_relative_to(tmp_path) and cache.path(key).suffix == ".bin"


def test_keys_differ_by_what_changes_the_build_and_versions_get_their_own_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("OPCOV_CACHE_DIR", str(tmp_path))
    base = dict(op="add", dtype="float32", signature="s", opset=28)
    keys = {CompileCache.key(**base), CompileCache.key(**{**base, "dtype": "float16"}),
            CompileCache.key(**{**base, "signature": "t"}), CompileCache.key(**{**base, "opset": 21}),
            CompileCache.key(**base, target="gpu")}
    assert len(keys) == 5
    assert CompileCache("s", {"v": "1"}).folder != CompileCache("s", {"v": "2"}).folder


def test_a_failed_build_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("OPCOV_CACHE_DIR", str(tmp_path))
    cache = CompileCache("stack", {"stack": "1.0"})
    key = cache.key(op="det", dtype="float32", signature="s")
    with pytest.raises(RuntimeError):
        cache.get_or_build(key, lambda: (_ for _ in ()).throw(RuntimeError("no conversion rule")))
    assert cache.get(key) is None

"""On-disk caches shared by every stage: where they live, and compiled artefacts of compile-per-case stacks.

A compile-per-case stack (IREE, ExecuTorch) separates building an artefact from running it. ``CompileCache``
keeps the built bytes (a .vmfb, a .pte) keyed by what decides them, so a later sample with the same
signature, and a later run, skips the build::

    cache = CompileCache("iree", {"iree-base-compiler": "3.13.0"}, suffix=".vmfb")
    key = cache.key(op="add", dtype="float32", signature=sha256_of_model, opset=28, target="llvm-cpu")
    vmfb = cache.get_or_build(key, lambda: compile_str(...))

An artefact is written to a scratch file and renamed into place, so concurrent workers never read half of one.
A failed build is not cached: its exception propagates and the next case tries again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

CACHE_FORMAT = 1  # bump when the key or the layout changes


def cache_root() -> Path:
    """OPCOV_CACHE_DIR, else $XDG_CACHE_HOME/opcoverage, else ~/.cache/opcoverage."""
    if os.environ.get("OPCOV_CACHE_DIR"):
        return Path(os.environ["OPCOV_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "opcoverage"


def digest(data: bytes | str) -> str:
    """A short stable hash of a model, a signature or a key."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:32]


class CompileCache:
    """Built artefacts of one stack, under ``cache_root()/compiled/<stack>-<versions>/``.

    The folder is named by the versions that built the artefacts, so an upgraded compiler never reads another's.
    ``hits`` and ``builds`` count this process's lookups (a case's ``extra.cache`` says which it was)."""

    def __init__(self, stack: str, versions: Mapping[str, str], suffix: str = ".bin"):
        tag = digest(json.dumps(dict(versions), sort_keys=True))[:12]
        self.folder = cache_root() / "compiled" / f"{stack}-v{CACHE_FORMAT}-{tag}"
        self.suffix = suffix
        self.hits = 0
        self.builds = 0

    @staticmethod
    def key(*, op: str, dtype: str, signature: str, opset: Any = None, **more: Any) -> str:
        """The key of one artefact: the op, the case's dtype, the signature (input shapes and dtypes, attributes;
        for an ONNX model, the hash of its bytes, which holds all of them) and the opset, plus anything else
        that changes the build (the target device, compiler flags)."""
        fields = {"op": op, "dtype": dtype, "signature": signature, "opset": opset, **more}
        return digest(json.dumps(fields, sort_keys=True, default=str))

    def path(self, key: str) -> Path:
        return self.folder / f"{key}{self.suffix}"

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except OSError:
            return None

    def put(self, key: str, artefact: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(artefact)
            os.replace(scratch, self.path(key))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(scratch)
            raise

    def put_failure(self, key: str, error: Exception, builder: str) -> None:
        """Keep a build's failure (its type, message, stage and the ops it reached) beside where its artefact would
        be, keyed also by ``builder`` (a digest of the code that built it, so a fixed backend never replays an
        old failure). Running out of memory is not kept: it depends on the machine, not the case."""
        from opcoverage.execute.runner import is_out_of_memory

        if is_out_of_memory(str(error)):
            return
        stage = getattr(error, "opcov_stage", None)
        record = {"type": type(error).__name__, "message": str(error), "kind": _kind(error),
                  "stage": stage.value if stage is not None else None,
                  "dispatched": list(getattr(error, "opcov_dispatched", ()))}
        try:
            self.put(f"{key}-{builder}-failed", json.dumps(record).encode())
        except OSError:
            pass

    def failed(self, key: str, builder: str) -> bool:
        """Whether a failure of that build is kept (``failure`` raises it again)."""
        return self.get(f"{key}-{builder}-failed") is not None

    def failure(self, key: str, builder: str) -> Exception | None:
        """The kept failure of that build, raised again as an exception of the same name, kind, message, stage and
        reached ops, marked ``opcov_cached``; None when there is none."""
        from opcoverage.backends.base import Unsupported
        from opcoverage.types import Stage

        raw = self.get(f"{key}-{builder}-failed")
        if raw is None:
            return None
        record = json.loads(raw)
        base = {"unsupported": Unsupported, "not_implemented": NotImplementedError,
                "timeout": TimeoutError}.get(record["kind"], RuntimeError)
        error = type(record["type"], (base,), {})(record["message"])
        if record["stage"]:
            error.opcov_stage = Stage(record["stage"])  # type: ignore[attr-defined]
        error.opcov_dispatched = tuple(record["dispatched"])  # type: ignore[attr-defined]
        error.opcov_cached = True  # type: ignore[attr-defined]
        self.hits += 1
        return error

    def get_or_build(self, key: str, build: Callable[[], bytes]) -> tuple[bytes, bool]:
        """(the artefact, whether it came from the cache); ``build`` runs only on a miss."""
        cached = self.get(key)
        if cached is not None:
            self.hits += 1
            return cached, True
        artefact = build()
        self.builds += 1
        try:
            self.put(key, artefact)
        except OSError:  # a read-only or full cache slows later runs down; it never fails a case
            pass
        return artefact, False


def _kind(error: Exception) -> str:
    """What a replayed failure must still be an instance of, for the backends' classifiers."""
    from opcoverage.backends.base import Unsupported

    if isinstance(error, Unsupported):
        return "unsupported"
    if isinstance(error, TimeoutError):  # a compiler killed past its deadline (opcoverage.backends.iree)
        return "timeout"
    return "not_implemented" if isinstance(error, NotImplementedError) else "error"

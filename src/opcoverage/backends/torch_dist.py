"""torch.distributed backend: each collective case runs on every rank of a real process group (`torch_dist:gloo`).

A worker keeps one group per (backend, world size): that many rank processes, forked once, joined through a file
store, each running the catalog's per-rank adapter on its own input and sending its result back. A rank that dies
makes the case `crash` and the next case gets a fresh group; a rank that hangs (a mismatched call) holds the case
past the pool's --timeout, whose kill of the worker takes the ranks with it (they die with their parent).
Out-of-tree backends registered through ``torch.distributed.Backend.register_backend`` are targets too.
"""

from __future__ import annotations

import ctypes
import os
import signal
import tempfile
from typing import Any

import numpy as np

from opcoverage.backends.base import DeviceInfo, Execution, classify_by_message
from opcoverage.catalog.spec import OpSpec, resolve_dotted
from opcoverage.types import Sample, Status

KNOWN = ("gloo", "nccl", "mpi", "ucc", "xccl")
_UNSUPPORTED = ("Invalid scalar type", "Cannot use ReduceOp", "not supported", "does not support", "unsupported",
                "only supports", "not implemented", "NotImplementedError", "Unsupported")


class RankDied(RuntimeError):
    """A rank process died while running a collective."""


def _die_with_parent() -> None:
    try:  # PR_SET_PDEATHSIG: a rank must not outlive the worker that the pool kills on a timeout
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


def _rank_main(conn, rank: int, world: int, backend: str, store: str) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from datetime import timedelta

    import torch
    import torch.distributed as dist

    from opcoverage.backends.torch import from_torch, to_torch

    torch.set_num_threads(1)
    try:
        dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world,
                                timeout=timedelta(seconds=600))
    except BaseException as exc:  # noqa: BLE001 - reported as the case's error
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        message = conn.recv()
        if message is None:
            dist.destroy_process_group()
            return
        path, kwargs, array = message
        try:
            out = resolve_dotted(path)(to_torch(array, "cpu"), **kwargs)
            conn.send(("ok", from_torch(out)))
        except BaseException as exc:  # noqa: BLE001 - the collective's own failure is the case's verdict
            conn.send(("error", f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:600]))


class _Group:
    """``world`` forked rank processes of one backend, kept for the worker's next cases.

    Forked with os.fork: the pool's workers are daemonic, and multiprocessing lets no daemon have children. The
    worker has imported torch but started no threads of its own (it only coordinates the ranks), so forking is safe.
    """

    def __init__(self, backend: str, world: int):
        from multiprocessing.connection import Pipe

        self.store = tempfile.mktemp(prefix=f"opcoverage-{backend}-{world}-")
        self.ranks: list[tuple[int, Any]] = []
        for rank in range(world):
            parent, child = Pipe()
            pid = os.fork()
            if pid == 0:  # the rank process
                parent.close()
                code = 0
                try:
                    _rank_main(child, rank, world, backend, self.store)
                except BaseException:  # noqa: BLE001 - the pipe's end tells the coordinator
                    code = 1
                os._exit(code)
            child.close()
            self.ranks.append((pid, parent))
        self._receive_all()  # "ready" from every rank, or why not

    def _receive_all(self) -> list[Any]:
        replies = []
        for rank, (pid, conn) in enumerate(self.ranks):
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                raise RankDied(f"rank {rank} of {len(self.ranks)} died ({_exit_text(_reap(pid))})") from None
            replies.append((kind, payload))
        errors = [(rank, payload) for rank, (kind, payload) in enumerate(replies) if kind == "error"]
        if errors:
            rank, text = errors[0]
            raise RuntimeError(f"rank {rank} of {len(self.ranks)}: {text}" +
                               (f" (and {len(errors) - 1} other rank(s))" if len(errors) > 1 else ""))
        return [payload for _, payload in replies]

    def run(self, path: str, kwargs: dict, inputs: np.ndarray) -> list[np.ndarray]:
        for rank, (_, conn) in enumerate(self.ranks):
            conn.send((path, kwargs, np.ascontiguousarray(inputs[rank])))
        return self._receive_all()

    def close(self) -> None:
        for pid, conn in self.ranks:
            try:
                conn.send(None)
            except OSError:
                pass
        for pid, _ in self.ranks:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            _reap(pid)
        try:
            os.unlink(self.store)
        except OSError:
            pass


def _reap(pid: int) -> int | None:
    """The exit code of a dead rank (negative: the signal), waiting a moment for it."""
    import time

    for _ in range(50):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        time.sleep(0.02)
    return None


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class TorchDistBackend:
    """Collectives of torch.distributed, one target per process-group backend: ``torch_dist:gloo``."""

    framework = "torch_dist"
    binding = "torch_dist"

    def __init__(self):
        self._groups: dict[tuple[str, int], _Group] = {}

    def devices(self) -> list[DeviceInfo]:
        try:
            import torch.distributed as dist
        except ImportError as exc:
            return [DeviceInfo(name, False, f"torch is not installed ({exc})") for name in KNOWN]
        registered = [b for b in getattr(dist.Backend, "backend_list", []) if b not in KNOWN and b != "undefined"]
        return [self.probe(name) for name in (*KNOWN, *registered)]

    def probe(self, device: str) -> DeviceInfo:
        import torch
        import torch.distributed as dist

        if not dist.is_available():
            return DeviceInfo(device, False, "this torch build has no torch.distributed")
        if device == "fake":
            return DeviceInfo(device, False, "torch's fake process group, for tests: it communicates nothing")
        try:
            available = dist.is_backend_available(device)
        except Exception:  # an unknown name
            available = False
        if not available:
            return DeviceInfo(device, False, f"this torch build ({torch.__version__}) has no {device} process-group "
                                             "backend (registered: " + ", ".join(b for b in dist.Backend.backend_list
                                                                          if b != "undefined") + ")")
        if device in ("nccl", "xccl") and not (torch.cuda.is_available() or hasattr(torch, "xpu")
                                               and torch.xpu.is_available()):
            return DeviceInfo(device, False, f"{device} needs a GPU and none is visible here")
        return DeviceInfo(device, True, name=f"torch.distributed {device}", driver="world sizes 2 and 4")

    def normalize_device(self, device: str) -> str:
        return device.lower()

    def version(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__}

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        binding = spec.bindings[self.binding]
        kwargs = binding.rename(sample.kwargs)
        world = int(sample.kwargs["world_size"])
        group = self._groups.get((device, world))
        if group is None:
            group = self._groups[(device, world)] = _Group(device, world)
        try:
            outputs = group.run(binding.call, kwargs, sample.args[0])
        except RankDied:
            group.close()  # the next case gets a fresh group
            del self._groups[(device, world)]
            raise
        name = binding.call.rsplit(".", 1)[-1]
        return Execution((np.stack(outputs),), (f"c10d::{name}",), extra={"world_size": world})

    def classify(self, error: BaseException) -> Status:
        if isinstance(error, RankDied):
            return Status.CRASH
        if any(pattern in str(error) for pattern in _UNSUPPORTED):
            return Status.UNSUPPORTED
        return classify_by_message(error)

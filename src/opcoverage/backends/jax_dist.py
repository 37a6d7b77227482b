"""JAX collectives backend: a catalog collective mapped with shard_map over a mesh of N XLA devices (`jax_dist:host`).

`host` is XLA's CPU platform split into 4 devices (--xla_force_host_platform_device_count, set in the worker before
its XLA client starts, which is why `host` is a lane of its own); `gpu` needs at least as many GPUs as the world
size. The stacked per-rank input is sharded on its leading axis, one block per device, and the per-device results
come back stacked the same way, so the references are those of the torch.distributed collectives.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from opcoverage.backends.base import DeviceInfo, Execution, Unsupported, classify_by_message
from opcoverage.catalog.spec import OpSpec
from opcoverage.types import Sample, Status

HOST_DEVICES = 4


class JaxDistBackend:
    framework = "jax_dist"
    binding = "jax_dist"

    def devices(self) -> list[DeviceInfo]:
        if importlib.util.find_spec("jax") is None:
            return [DeviceInfo(d, False, "package jax is not installed") for d in ("host", "gpu")]
        from opcoverage.backends.jax import _jax

        out = [DeviceInfo("host", True, name=f"{HOST_DEVICES} XLA host devices", driver="world sizes 2 and 4")]
        try:
            gpus = _jax().devices("gpu")
            ok = len(gpus) >= 2
            out.append(DeviceInfo("gpu", ok, "" if ok else f"{len(gpus)} GPU; collectives need 2 or more",
                                  name=getattr(gpus[0], "device_kind", ""), driver=f"{len(gpus)} device(s)"))
        except RuntimeError as exc:
            out.append(DeviceInfo("gpu", False, f"no gpu platform in this jaxlib ({str(exc).splitlines()[0][:100]})"))
        return out

    def normalize_device(self, device: str) -> str:
        return {"cpu": "host", "cuda": "gpu"}.get(device.lower(), device.lower())

    def version(self) -> dict[str, str]:
        from opcoverage.backends.jax import _jax

        return {"jax": _jax().__version__}

    def warm_up(self, device: str) -> None:
        if device == "host":  # read once, when this process's XLA CPU client starts
            flags = os.environ.get("XLA_FLAGS", "")
            os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={HOST_DEVICES}".strip()

    def run(self, spec: OpSpec, sample: Sample, device: str) -> Execution:
        from jax.sharding import Mesh, PartitionSpec

        from opcoverage.backends.jax import _jax

        jax = _jax()
        binding = spec.bindings[self.binding]
        kwargs = binding.rename(sample.kwargs)
        world = int(sample.kwargs["world_size"])
        found = jax.devices("cpu" if device == "host" else device)
        if len(found) < world:
            raise Unsupported(f"world size {world} needs {world} {device} devices; this process has {len(found)}")
        mesh = Mesh(np.array(found[:world]), ("x",))
        fn = binding.resolve()
        mapped = jax.jit(jax.shard_map(lambda block: fn(block, **kwargs), mesh=mesh, in_specs=PartitionSpec("x"),
                                       out_specs=PartitionSpec("x")))
        stacked = jax.device_put(sample.args[0])
        primitives = tuple(dict.fromkeys(f"lax::{e.primitive.name}" for e in _equations(jax.make_jaxpr(mapped)(stacked))))
        out = np.asarray(jax.block_until_ready(mapped(stacked)))
        return Execution((out,), primitives, extra={"world_size": world})

    def classify(self, error: BaseException) -> Status:
        return classify_by_message(error)


def _equations(closed):
    """Every equation of a jaxpr, those inside shard_map and jit bodies too."""
    stack = [closed.jaxpr]
    while stack:
        jaxpr = stack.pop()
        for eqn in jaxpr.eqns:
            yield eqn
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns"):
                    stack.append(inner)

"""Collective adapters: what each rank of a torch.distributed process group runs for one catalog op.

Each takes this rank's input tensor and the sample's keyword arguments, runs the collective on the default group
(set up by opcoverage.backends.torch_dist), and returns this rank's result as one tensor.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

_OPS = {"sum": "SUM", "product": "PRODUCT", "min": "MIN", "max": "MAX", "avg": "AVG", "band": "BAND", "bor": "BOR",
        "bxor": "BXOR"}


def _reduce_op(op: str):
    if op == "premul_sum":  # a SUM that scales every input first; torch builds it for NCCL only
        return dist._make_nccl_premul_sum(2.0)
    return getattr(dist.ReduceOp, _OPS[op])


def all_reduce(x: torch.Tensor, op: str = "sum", world_size: int = 2) -> torch.Tensor:
    out = x.clone()
    dist.all_reduce(out, op=_reduce_op(op))
    return out


def broadcast(x: torch.Tensor, src: int = 0, world_size: int = 2) -> torch.Tensor:
    out = x.clone()
    dist.broadcast(out, src=src)
    return out


def all_gather(x: torch.Tensor, world_size: int = 2) -> torch.Tensor:
    outs = [torch.empty_like(x) for _ in range(world_size)]
    dist.all_gather(outs, x)
    return torch.stack(outs)


def all_gather_into_tensor(x: torch.Tensor, world_size: int = 2) -> torch.Tensor:
    out = x.new_empty((world_size * x.shape[0],) + tuple(x.shape[1:]))
    dist.all_gather_into_tensor(out, x)
    return out


def reduce_scatter(x: torch.Tensor, op: str = "sum", world_size: int = 2) -> torch.Tensor:
    chunks = [c.contiguous() for c in x.chunk(world_size, dim=0)]
    out = torch.empty_like(chunks[0])
    dist.reduce_scatter(out, chunks, op=_reduce_op(op))
    return out


def reduce_scatter_tensor(x: torch.Tensor, op: str = "sum", world_size: int = 2) -> torch.Tensor:
    out = x.new_empty((x.shape[0] // world_size,) + tuple(x.shape[1:]))
    dist.reduce_scatter_tensor(out, x.contiguous(), op=_reduce_op(op))
    return out


def all_to_all_single(x: torch.Tensor, world_size: int = 2) -> torch.Tensor:
    out = torch.empty_like(x)
    dist.all_to_all_single(out, x.contiguous())
    return out


def all_to_all(x: torch.Tensor, world_size: int = 2) -> torch.Tensor:
    inputs = [c.contiguous() for c in x.chunk(world_size, dim=0)]
    outputs = [torch.empty_like(c) for c in inputs]
    dist.all_to_all(outputs, inputs)
    return torch.cat(outputs, dim=0)


def gather(x: torch.Tensor, dst: int = 0, world_size: int = 2) -> torch.Tensor:
    gathered = [torch.empty_like(x) for _ in range(world_size)] if dist.get_rank() == dst else None
    dist.gather(x.contiguous(), gather_list=gathered, dst=dst)
    return torch.stack(gathered) if gathered is not None else torch.zeros((world_size,) + tuple(x.shape), dtype=x.dtype)


def scatter(x: torch.Tensor, src: int = 0, world_size: int = 2) -> torch.Tensor:
    chunks = [c.contiguous() for c in x.chunk(world_size, dim=0)] if dist.get_rank() == src else None
    out = torch.empty((x.shape[0] // world_size,) + tuple(x.shape[1:]), dtype=x.dtype)
    dist.scatter(out, scatter_list=chunks, src=src)
    return out


def reduce(x: torch.Tensor, op: str = "sum", dst: int = 0, world_size: int = 2) -> torch.Tensor:
    out = x.clone()
    dist.reduce(out, dst=dst, op=_reduce_op(op))
    return out if dist.get_rank() == dst else torch.zeros_like(x)


def send_recv_ring(x: torch.Tensor, world_size: int = 2) -> torch.Tensor:
    rank = dist.get_rank()
    out = torch.empty_like(x)
    requests = [dist.isend(x.contiguous(), (rank + 1) % world_size), dist.irecv(out, (rank - 1) % world_size)]
    for request in requests:
        request.wait()
    return out


def barrier(x: torch.Tensor, world_size: int = 2) -> torch.Tensor:
    dist.barrier()
    return x.clone()

"""Perf stage, cost model: bytes read and written and FLOPs of one call, from its input and output arrays.

Every count is a lower bound on the work the op must do, so a percentage of the roofline computed from it never
overstates how close an op comes to the machine's limits:

- bytes: each input read once (only the diagonal for trace), each output written once (an output that is a view
  of an input moves nothing);
- FLOPs: matrix products 2*M*N*K, convolutions 2 * output elements * (input channels per group * kernel size),
  factorizations and inverses n^3/3 per matrix (the cheapest of them, Cholesky), FFTs N*log2(n), everything else
  one operation per element of its largest array; data movement (shape, indexing, creation) none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from opcoverage.backends.base import ArrayInfo

# Products whose contraction length is the last dim of this input (the others are bias terms).
PRODUCTS = {"matmul": 0, "mm": 0, "bmm": 0, "mv": 0, "dot": 0, "linear": 0, "addmm": 1, "addmv": 1, "baddbmm": 1}
# Categories whose ops are held to the compute roof (a large matmul) as well as the bandwidth roof.
COMPUTE_CATEGORIES = frozenset({"linalg", "convolution"})
DATA_MOVEMENT = frozenset({"shape", "indexing", "creation", "collective"})
# Ops that read only the diagonal of their (first) input.
DIAGONAL_READS = frozenset({"trace"})
# Factorizations and what is built on them: each costs at least n^3/3 per n x n matrix (Cholesky's count).
FACTORIZATIONS = frozenset({"linalg_det", "linalg_inv", "linalg_solve", "linalg_slogdet", "linalg_cholesky",
                            "linalg_qr", "linalg_eigh", "linalg_eigvalsh", "linalg_svd", "linalg_svdvals",
                            "linalg_pinv", "linalg_lstsq", "linalg_lu", "linalg_cond", "linalg_matrix_exp",
                            "cholesky_inverse"})


@dataclass(frozen=True)
class Cost:
    """Work of one call. ``footprint`` is the memory the call touches in full or in part (every input, every
    output that is not a view): what must exceed the cache for a shape to be beyond it."""

    bytes_read: int
    bytes_written: int
    flops: int
    model: str
    footprint: int = 0

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written


def cost_of(op: str, category: str, inputs: Sequence[ArrayInfo], outputs: Sequence[ArrayInfo]) -> Cost:
    """The work of one call of ``op`` on these inputs, producing these outputs."""
    footprint = sum(a.nbytes for a in inputs) + sum(o.nbytes for o in outputs if not o.view)
    if outputs and all(o.view for o in outputs):
        return Cost(0, 0, 0, "view: no data moved", footprint)
    read = sum(a.nbytes for a in inputs)
    if op in DIAGONAL_READS and inputs and len(inputs[0].shape) >= 2:  # reads the diagonal, not the matrix
        shape = inputs[0].shape
        read = math.prod(shape[:-2]) * min(shape[-2:]) * inputs[0].nbytes // max(math.prod(shape), 1)
    written = sum(o.nbytes for o in outputs if not o.view)
    flops, model = _flops(op, category, inputs, outputs)
    return Cost(read, written, int(flops), model, footprint)


def _flops(op: str, category: str, inputs: Sequence[ArrayInfo], outputs: Sequence[ArrayInfo]) -> tuple[float, str]:
    largest = max([math.prod(a.shape) for a in inputs] + [math.prod(o.shape) for o in outputs] + [0])
    if category in DATA_MOVEMENT:
        return 0, "data movement"
    if op in DIAGONAL_READS and inputs and len(inputs[0].shape) >= 2:
        shape = inputs[0].shape
        return math.prod(shape[:-2]) * min(shape[-2:]), "one op per diagonal element"
    if op in PRODUCTS and len(inputs) > PRODUCTS[op] and inputs[PRODUCTS[op]].shape and outputs:
        k = inputs[PRODUCTS[op]].shape[-1]
        return 2 * max(math.prod(outputs[0].shape), 1) * k, "matmul 2*M*N*K"
    if category == "convolution" and len(inputs) >= 2 and len(inputs[1].shape) >= 3 and outputs:
        per_point = math.prod(inputs[1].shape[1:])
        if "transpose" in op:  # each input point scatters into (out channels / groups) * kernel outputs
            return 2 * math.prod(inputs[0].shape) * per_point, "transposed convolution"
        return 2 * math.prod(outputs[0].shape) * per_point, "convolution 2*out*Cin/g*k"
    if op in FACTORIZATIONS and inputs and len(inputs[0].shape) >= 2:
        n = min(inputs[0].shape[-2:])
        batch = math.prod(inputs[0].shape[:-2])
        return batch * n ** 3 / 3, "factorization n^3/3"
    if category == "fft":
        n = max([a.shape[-1] for a in list(inputs) + list(outputs) if a.shape] + [2])
        return largest * math.log2(max(n, 2)), "fft N*log2(n)"
    return largest, "one op per element"

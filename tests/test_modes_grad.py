"""The grad mode's oracle (modes.grad): a right VJP passes, one 1% off is a mismatch with its relative error, on
the oracle alone and end to end through a fault-injecting torch backend run beside the real torch CPU."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from opcoverage.catalog.loader import load_catalog
from opcoverage.execute.runner import _call_reference, _reference, _samples
from opcoverage.modes import grad, parse_modes
from opcoverage.types import Status

WRONG_BY = 1.01


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(frameworks=("torch",))


def _matmul_vjp(sample, req):
    """J^T v of A @ B by hand, in float64 then rounded to the sample's dtype as a backend would return it."""
    a, b = (np.asarray(x, np.float64) for x in sample.args)
    (v,) = (np.asarray(c, np.float64) for c in req.cotangents)
    return tuple(g.astype(sample.args[0].dtype) for g in (v @ b.T, a.T @ v))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_right_vjp_passes_and_one_1_percent_off_is_a_mismatch_with_its_error(catalog, dtype):
    spec = catalog["matmul"]
    sample = next(s for s in _samples(spec, dtype, 0, "quick") if s.args[0].ndim == 2 and s.args[1].ndim == 2)
    assert grad.applies(spec, dtype, sample)
    req = grad.request(spec, sample, _reference(spec, dtype, 0, "quick", sample.index))
    reference = functools.partial(_call_reference, spec, sample.kwargs)
    right = _matmul_vjp(sample, req)

    ok = grad.check(spec, sample, req, right, reference)
    assert ok.status is Status.PASS, ok.message
    assert ok.max_rel_err < grad.GRAD_TOLERANCES[dtype] / 10  # the bound sits well above a right gradient

    wrong = grad.check(spec, sample, req, tuple(g * WRONG_BY for g in right), reference)
    assert wrong.status is Status.MISMATCH, wrong.message
    assert wrong.max_rel_err > grad.GRAD_TOLERANCES[dtype]
    # 1% of <J^T v, u>, relative to the norm of its terms: the error the message reports is that figure
    vjp_u = sum(float((np.asarray(g, np.float64) * u).sum()) for g, u in zip(right, req.tangents))
    norm = np.sqrt(sum(float(np.square(np.asarray(g, np.float64) * u).sum()) for g, u in zip(right, req.tangents)))
    assert wrong.max_rel_err == pytest.approx(0.01 * abs(vjp_u) / (WRONG_BY * norm), rel=1e-2)
    assert f"relative error {wrong.max_rel_err:.3g}" in wrong.message


def test_no_derivative_is_unsupported_where_the_reference_varies_and_right_where_it_is_constant(catalog):
    spec = catalog["matmul"]
    sample = next(s for s in _samples(spec, "float64", 0, "quick") if s.args[0].ndim == 2)
    req = grad.request(spec, sample, _reference(spec, "float64", 0, "quick", sample.index))
    zeros = tuple(np.zeros_like(u) for u in req.tangents)
    result = grad.check(spec, sample, req, zeros, functools.partial(_call_reference, spec, sample.kwargs),
                        "torch records no derivative for matmul")
    assert result.status is Status.UNSUPPORTED and "no derivative" in result.message
    shape = req.cotangents[0].shape
    constant = grad.check(spec, sample, req, zeros, lambda *args: (np.zeros(shape),),
                          "torch records no derivative for matmul")
    assert constant.status is Status.PASS


def test_integer_outputs_and_marked_inputs_plan_no_grad_case(catalog):
    for op in ("argmax", "isnan", "floor", "zeros_like", "arange"):
        spec = catalog[op]
        assert not any(grad.applies(spec, "float32", s) for s in _samples(spec, "float32", 0, "quick")), op
    loss = catalog["hinge_embedding_loss"]
    sample = _samples(loss, "float32", 0, "quick")[0]
    assert grad.differentiable_inputs(loss, sample) == (0,)  # the +-1 targets are labels


OPS = "sin,tanh,matmul,softmax,sum,maximum"
FAULTY = "tanh"


@pytest.fixture
def grad_fault_backend(tmp_path, monkeypatch):
    """The torch backend with tanh's J^T v 1% too large, registered through a real entry point (gradfault:cpu)."""
    from tests.fault.grad_backend import install

    monkeypatch.setenv("OPCOV_FAULT_GRAD_OP", FAULTY)
    yield from install(tmp_path, monkeypatch)


def test_a_vjp_1_percent_off_on_one_op_is_mismatch_there_and_nowhere_else(grad_fault_backend):
    from opcoverage.execute.session import RunSession
    from opcoverage.options import RunConfig

    session = RunSession(RunConfig(targets=["torch:cpu", "gradfault:cpu"], ops=OPS.split(","),
                                   dtypes=["float32", "float64"], modes=parse_modes("forward,grad")))
    results = [session.run_one(case) for case in session.cases]
    by_case = {(r.op, r.mode, r.dtype, r.sample, r.target): r for r in results}
    faulty_grad = [r for r in results if r.target == "gradfault:cpu" and r.op == FAULTY and r.mode == "grad"]
    assert len(faulty_grad) >= 4  # both dtypes, every grad sample
    for r in faulty_grad:
        assert r.status is Status.MISMATCH, (r.sample, r.dtype, r.message)
        assert r.max_rel_err > grad.GRAD_TOLERANCES[r.dtype] and "relative error" in r.message
    others = [r for r in results if r.target == "gradfault:cpu" and r not in faulty_grad]
    assert {r.mode for r in others} == {"forward", "grad"} and len({r.op for r in others}) == len(OPS.split(","))
    for r in others:
        plain = by_case[(r.op, r.mode, r.dtype, r.sample, "torch:cpu")]
        assert r.status is plain.status, (r.op, r.mode, r.dtype, r.sample, r.message, plain.message)

"""The rewrites of _scatter.py: a scatter-add for batched gradients of indexed models, and a
switch between two images of one function evaluated once."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose

from bayes_unlearn import _scatter


@pytest.mark.parametrize("shape", [(7, 5), (7, 3, 2)])
def test_scatter_add_matches_numpy_add_at_with_repeated_and_negative_indices(shape):
    rng = np.random.default_rng(0)
    x = pt.tensor("x", shape=(None,) * len(shape))
    y = pt.tensor("y", shape=(None,) * len(shape))
    idx = pt.lvector("idx")
    out = pt.inc_subtensor(x[idx], y)
    fn = pytensor.function([x, y, idx], out, mode=_scatter.mode())
    ops = [type(node.op).__name__ for node in fn.maker.fgraph.apply_nodes]
    assert "ScatterAdd" in ops  # the rewrite replaced AdvancedIncSubtensor1
    x_val = rng.standard_normal(shape)
    indices = np.array([0, 3, 3, -1, 6, 0, 0, 2])  # repeats add up; -1 is the last row
    y_val = rng.standard_normal((indices.size, *shape[1:]))
    expected = x_val.copy()
    np.add.at(expected, indices, y_val)
    assert_allclose(fn(x_val, y_val, indices), expected, rtol=1e-12)
    assert_allclose(fn(x_val, y_val[:0], indices[:0]), x_val)  # no rows: x unchanged
    before = x_val.copy()
    fn(x_val, y_val, indices)
    assert_allclose(x_val, before)  # the input is not modified


def test_vectors_and_sets_keep_pytensors_own_op():
    x, y, idx = pt.vector("x"), pt.vector("y"), pt.lvector("idx")
    fn = pytensor.function([x, y, idx], [pt.inc_subtensor(x[idx], y)], mode=_scatter.mode())
    assert "ScatterAdd" not in [type(n.op).__name__ for n in fn.maker.fgraph.apply_nodes]
    m, v = pt.matrix("m"), pt.matrix("v")
    fn = pytensor.function([m, v, idx], [pt.set_subtensor(m[idx], v)], mode=_scatter.mode())
    assert "ScatterAdd" not in [type(n.op).__name__ for n in fn.maker.fgraph.apply_nodes]


def _softplus_count(fn) -> int:
    """Softplus nodes in a compiled function, inside fused Composites' inner graphs too."""
    return pytensor.printing.debugprint(fn, file="str").count("Softplus [")


def test_a_switch_between_two_softplus_evaluates_one():
    """PyMC's Bernoulli log-likelihood, switch(y, -softplus(-x), -softplus(x)): the same
    numbers with softplus computed once per element instead of twice."""
    y, x = pt.vector("y"), pt.vector("x")
    out = pt.switch(y, -pt.softplus(-x), -pt.softplus(x))
    lifted = pytensor.function([y, x], out, mode=_scatter.mode())
    plain = pytensor.function([y, x], out)
    rng = np.random.default_rng(1)
    x_val = rng.standard_normal(1000) * 30  # all of softplus's branches
    y_val = (rng.random(1000) < 0.5).astype(float)
    expected = np.where(y_val == 1, -np.logaddexp(0, -x_val), -np.logaddexp(0, x_val))
    assert_allclose(lifted(y_val, x_val), expected, rtol=1e-12)
    np.testing.assert_array_equal(lifted(y_val, x_val), plain(y_val, x_val))
    assert (_softplus_count(plain), _softplus_count(lifted)) == (2, 1)


def _op_names(fn):
    return [type(node.op).__name__ for node in fn.maker.fgraph.toposort()]


@pytest.mark.parametrize("shape", [(6, 9), (4, 3, 9)])
def test_sums_over_the_last_axis_run_in_numpy(shape):
    """PyTensor's C sum over the contiguous last axis is 10x slower than NumPy's (0.31 vs
    0.026 ms for 100 x 919); other axes and integer sums keep PyTensor's op."""
    rng = np.random.default_rng(1)
    x = pt.tensor("x", shape=(None,) * len(shape))
    fn = pytensor.function([x], [x.sum(axis=-1), x.sum(axis=0)], mode=_scatter.mode())
    assert _op_names(fn).count("LastAxisSum") == 1
    value = rng.standard_normal(shape)
    last, first = fn(value)
    assert_allclose(last, value.sum(axis=-1), rtol=1e-13)
    assert_allclose(first, value.sum(axis=0), rtol=1e-13)
    assert_allclose(fn(value[..., :0])[0], np.zeros(shape[:-1]))  # nothing to sum: 0
    ints = pt.lmatrix("i")
    fn_int = pytensor.function([ints], ints.sum(axis=1), mode=_scatter.mode())
    assert "LastAxisSum" not in _op_names(fn_int)


def test_a_sum_of_a_fill_sums_the_values_only():
    """``sum(fill(x, y), axis=1)`` with ``x`` of length 1 on that axis (a gradient's shape
    carrier) sums ``y`` without building the (n, m) array."""
    x, y = pt.matrix("x", shape=(None, 1)), pt.matrix("y", shape=(1, None))
    fn = pytensor.function([x, y], pt.second(x + 1.0, y).sum(axis=1), mode=_scatter.mode())
    (total,) = fn.maker.fgraph.outputs
    assert type(total.owner.op.scalar_op).__name__ == "Second"  # the fill comes last
    # of the values' sum (and x, squeezed), not of an (n, m) array
    assert type(total.owner.inputs[1].owner.op).__name__ == "LastAxisSum"
    assert total.owner.inputs[1].owner.inputs[0].name == "y"
    x_val, y_val = np.arange(3.0)[:, None], np.array([[1.0, 2.0, 4.0, 8.0]])
    assert_allclose(fn(x_val, y_val), np.full(3, 15.0))
    z = pt.matrix("z")  # no length-1 axis to sum over: left as it was
    fn_full = pytensor.function([z, y], pt.second(z, y).sum(axis=1), mode=_scatter.mode())
    assert_allclose(fn_full(np.zeros((2, 4)), y_val), np.full(2, 15.0))

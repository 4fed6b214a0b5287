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

"""The two Ops :mod:`bayes_unlearn._scatter`'s rewrites put into the batched graphs.

At module level (imported only when a rewrite is registered, so PyTensor is not imported with
the package) so that a compiled function holding them pickles (:mod:`~bayes_unlearn._function_cache`).
"""

from __future__ import annotations

import numpy as np
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.tensor.type import TensorType

__all__ = ["LastAxisSum", "ScatterAdd"]


class ScatterAdd(Op):
    """``x`` with ``y[i]`` added to row ``idx[i]`` (repeated indices add up)."""

    __props__ = ()

    def make_node(self, x, y, idx):
        return Apply(self, [x, y, idx], [x.type()])

    def perform(self, node, inputs, output_storage):
        x, y, idx = inputs
        out = x.copy()
        if idx.size:
            idx = np.where(idx < 0, idx + x.shape[0], idx)
            y = np.broadcast_to(y, (idx.size, *x.shape[1:]))
            if (idx[1:] < idx[:-1]).any():  # rows sorted by group need no reordering
                order = np.argsort(idx, kind="stable")
                idx, y = idx[order], y[order]
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            out[idx[starts]] += np.add.reduceat(y, starts, axis=0)
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]


class LastAxisSum(Op):
    """``x.sum(axis=-1)`` by NumPy (pairwise, vectorized)."""

    __props__ = ()

    def make_node(self, x):
        out = TensorType(x.dtype, shape=x.type.shape[:-1])()
        return Apply(self, [x], [out])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.add.reduce(inputs[0], axis=-1)

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0][:-1]]

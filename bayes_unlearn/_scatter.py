"""Rewrites for the batched graphs of :mod:`bayes_unlearn.compiled`.

**A faster scatter-add** for the batched gradients of indexed (hierarchical) models. The
gradient of ``a[county_idx]`` is a scatter-add of per-row terms into per-county
totals. Vectorized over draws, PyTensor runs it as ``AdvancedIncSubtensor1`` on a matrix,
which has no C implementation and falls back to ``np.add.at``, about half the time of the
radon model's log density and gradient. :class:`~bayes_unlearn._ops.ScatterAdd` does the
same sum by sorting the indices (unless the rows come sorted by group, as the radon homes
do) and adding each run of equal indices with ``np.add.reduceat``; the rewrite swaps it in
only in the functions :mod:`bayes_unlearn.compiled` builds (the ``mode()`` below), never in
PyMC's own sampling.

**One evaluation where a switch picks between two images of one function.** PyMC's Bernoulli
log-likelihood is ``switch(y, −softplus(−x), −softplus(x))``; compiled, both branches are
computed for every element and one is thrown away. ``switch(c, f(a), f(b))`` for an
elementwise unary ``f`` becomes ``f(switch(c, a, b))`` (applied again, the shared negation
then the softplus move out): the same numbers, with half the transcendental work.

**Sums without waste.** A sum over the last, contiguous axis runs in NumPy
(:class:`~bayes_unlearn._ops.LastAxisSum`): PyTensor's C reduction adds one element at a
time. And a gradient's ``sum(fill(x, y), axis)``, where ``x`` has length 1 on that axis and
only lends its shape, sums ``y`` alone instead of building the (draws, rows) array first.

What they save is measured in ``benchmarks/results/gradient.md`` (the radon models' log
density and gradient with and without them, and the two sums).
"""

from __future__ import annotations

from bayes_unlearn import _backend

__all__ = ["TAGS", "mode"]

_TAG = "bayes_unlearn_scatter_add"
_SWITCH_TAG = "bayes_unlearn_lift_switch"
_FILL_SUM_TAG = "bayes_unlearn_sum_of_fill"
_LAST_AXIS_TAG = "bayes_unlearn_last_axis_sum"
#: Every rewrite :func:`mode` includes (none is in PyTensor's default mode).
TAGS = (_TAG, _SWITCH_TAG, _FILL_SUM_TAG, _LAST_AXIS_TAG)


def _register() -> None:
    from pytensor.compile import optdb
    from pytensor.graph.rewriting.basic import in2out, node_rewriter
    from pytensor.tensor.subtensor import AdvancedIncSubtensor1

    from bayes_unlearn._ops import ScatterAdd

    scatter_add = ScatterAdd()

    @node_rewriter([AdvancedIncSubtensor1])
    def use_scatter_add(fgraph, node):
        x, y, idx = node.inputs
        if node.op.set_instead_of_inc or x.type.ndim < 2 or y.type.ndim != x.type.ndim:
            return None  # vectors have a C implementation; broadcast values keep the original
        return [scatter_add(x, y, idx)]

    # After specialization (where the batched gradient becomes AdvancedIncSubtensor1) and
    # before the inplace rewrites; only the mode below includes it.
    optdb.register(_TAG, in2out(use_scatter_add), position=48.7)
    # After specialization (log(sigmoid) is softplus by then) and before fusion.
    optdb.register(_SWITCH_TAG, in2out(_lift_switch()), position=48.6)
    optdb.register(_FILL_SUM_TAG, in2out(_sum_of_fill()), position=48.65)
    # After fusion (49), so that fused elementwise terms feed the sums.
    optdb.register(_LAST_AXIS_TAG, in2out(_last_axis_sum()), position=49.5)


def _lift_switch():
    import pytensor.tensor as pt
    from pytensor.graph.rewriting.basic import node_rewriter
    from pytensor.scalar.basic import Switch
    from pytensor.tensor.elemwise import Elemwise

    @node_rewriter([Elemwise])
    def lift_switch(fgraph, node):
        """``switch(c, f(a), f(b)) → f(switch(c, a, b))`` for one unary elementwise ``f``."""
        if not isinstance(node.op.scalar_op, Switch):
            return None
        cond, a, b = node.inputs
        if a.owner is None or b.owner is None or a.owner.op != b.owner.op:
            return None
        f = a.owner.op
        if not isinstance(f, Elemwise) or len(a.owner.inputs) != 1 or len(b.owner.inputs) != 1:
            return None
        (x,), (z,) = a.owner.inputs, b.owner.inputs
        if x.dtype != z.dtype:
            return None
        out = f(pt.switch(cond, x, z))
        old = node.outputs[0]
        if out.dtype != old.dtype or out.type.broadcastable != old.type.broadcastable:
            return None
        return [out]

    return lift_switch


def _last_axis_sum():
    from pytensor.graph.rewriting.basic import node_rewriter
    from pytensor.tensor.math import Sum

    from bayes_unlearn._ops import LastAxisSum

    last_axis_sum = LastAxisSum()

    @node_rewriter([Sum])
    def use_last_axis_sum(fgraph, node):
        (x,) = node.inputs
        out = node.outputs[0]
        if x.type.ndim < 2 or x.dtype != "float64" or out.dtype != "float64":
            return None
        if tuple(node.op.axis or ()) != (x.type.ndim - 1,):
            return None
        return [last_axis_sum(x)]

    return use_last_axis_sum


def _sum_of_fill():
    import pytensor.tensor as pt
    from pytensor.graph.rewriting.basic import node_rewriter
    from pytensor.scalar.basic import Second
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.math import Sum

    @node_rewriter([Sum])
    def sum_of_fill(fgraph, node):
        """``sum(fill(x, y), axes) → fill(x', sum(y, axes))`` where ``x`` has length 1 on
        the summed axes, so that it only lends its shape to ``y``'s values (``x'``: ``x``
        without those axes)."""
        (filled,) = node.inputs
        owner = filled.owner
        if owner is None or not isinstance(owner.op, Elemwise):
            return None
        if not isinstance(owner.op.scalar_op, Second):
            return None
        x, y = owner.inputs
        axes = node.op.axis if node.op.axis is not None else tuple(range(filled.type.ndim))
        if not all(x.type.broadcastable[a] for a in axes):
            return None
        out = pt.second(x.squeeze(axis=axes), y.sum(axis=axes, dtype=node.outputs[0].dtype))
        old = node.outputs[0]
        if out.dtype != old.dtype or out.type.broadcastable != old.type.broadcastable:
            return None
        return [out]

    return sum_of_fill


_REGISTERED = False


def mode():
    """PyTensor's default compile mode with this module's rewrites included (``TAGS``)."""
    global _REGISTERED
    _backend.pymc()  # PyTensor is imported through the BLAS-probe filter
    from pytensor.compile.mode import get_default_mode

    if not _REGISTERED:
        _register()
        _REGISTERED = True
    return get_default_mode().including(*TAGS)

"""A fitted ``pm.Model`` as a builder on any subset of its rows.

A user who brings a model object (``bu.from_pymc(model, idata)``), or Bambi, which builds the
model itself (``bu.from_bambi``), has no function that builds it again on other rows. The
model's own graph is one: every row-length array in it (``pm.Data`` containers and plain
NumPy constants alike: design matrices, group indices, the observed values) is replaced by
its rows at the given positions, and the row dimension's length with theirs (PyMC's
``fgraph_from_model``, a graph rebuild, ``model_from_fgraph``). Everything else stays as
fitted: the group levels (a group with no rows left keeps its parameters, which then follow
their prior, as in a refit that never saw the group), and any constant computed from the
data when the model was built (Bambi's centering of predictors and its default prior
scales), so that the draws mean the same thing on every subset.

The rows are named by their position in the fitted model: ``X`` is one column of positions
(``MODEL_ROW``), ``y`` the observed values. New rows that the model never held cannot be
named this way: cause scores against a failure set outside the training rows need a builder.
"""

from __future__ import annotations

import numpy as np

from bayes_unlearn import _backend

__all__ = ["MODEL_ROW", "ModelRows"]

#: The one feature of a posterior wrapped from a model object: each row's position in it.
MODEL_ROW = "model_row"


class ModelRows:
    """``builder(X, y) -> pm.Model``: ``model`` on the rows at positions ``X[:, 0]``.

    Parameters
    ----------
    model : pm.Model
        The fitted model, built on all its rows.
    observed : str, optional
        Its observed variable (default: the only one).
    source : object, optional
        What built ``model`` (a Bambi model), kept for conversions back to it.

    Attributes
    ----------
    n_rows : int
        Rows of the fitted model.
    y : ndarray
        Its observed values.
    """

    def __init__(self, model, observed: str | None = None, *, source=None):
        from bayes_unlearn.compiled import check_model

        self.model = model
        self.observed = check_model(model, observed).name
        self.source = source
        obs_rv = model[self.observed]
        self.y = np.asarray(_value(model.rvs_to_values[obs_rv]))
        self.n_rows = int(self.y.shape[0])
        self.row_dim = (model.named_vars_to_dims.get(self.observed) or (None,))[0]

    @property
    def X(self) -> np.ndarray:
        """Every row's position, as the one-column ``X`` the builder takes."""
        return np.arange(self.n_rows, dtype=np.float64)[:, None]

    def positions(self, X) -> np.ndarray:
        """The positions named by ``X``, checked."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 1:
            raise ValueError(
                f"A model wrapped from a pm.Model takes X as one column of row positions "
                f"({MODEL_ROW!r}); got shape {X.shape}."
            )
        rows = X[:, 0].astype(np.int64)
        if not np.array_equal(rows, X[:, 0]) or rows.min(initial=0) < 0 or (
            rows.max(initial=0) >= self.n_rows
        ):
            raise ValueError(
                f"The rows of a model wrapped from a pm.Model are its own, positions 0 to "
                f"{self.n_rows - 1}; new rows need a builder: bu.PyMCModel(builder)."
            )
        return rows

    def __call__(self, X, y):
        rows = self.positions(X)
        y = np.asarray(y)
        if y.shape[:1] != rows.shape:
            raise ValueError(f"'y' has {y.shape[0]} rows, 'X' {rows.size}.")
        return on_rows(self.model, self.observed, rows, y, row_dim=self.row_dim)

    def __repr__(self) -> str:
        kind = type(self.source).__module__.split(".")[0] if self.source is not None else "pm"
        return f"ModelRows({kind} model, {self.n_rows} rows, observed={self.observed!r})"


def on_rows(model, observed: str, rows: np.ndarray, y: np.ndarray, *, row_dim=None):
    """``model`` with its row-length arrays at ``rows`` and observed values ``y``."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.fg import FunctionGraph
    from pytensor.graph.replace import clone_replace

    pm = _backend.pymc()
    fgraph, memo = pm.model.fgraph.fgraph_from_model(model, inlined_views=True)
    obs_value = memo[model.rvs_to_values[model[observed]]]
    n = int(np.shape(_value(obs_value))[0])
    replace = {}
    for var in _row_arrays(fgraph.outputs, n):
        new = y if var is obs_value else _value(var)[rows]
        if isinstance(var, SharedVariable):
            replace[var] = pytensor.shared(new, name=var.name, shape=(None,) * np.ndim(new))
        else:
            replace[var] = pt.constant(np.asarray(new, dtype=var.dtype), name=var.name)
    size = _fixed_size(fgraph, obs_value, n)
    if size is not None:  # PyMC sized the observed variable by its data: ``[n]``
        replace[size] = pt.constant(np.r_[rows.size, size.data[1:]].astype(size.dtype))
    # PyMC's model graphs carry the coords and dim lengths in these two attributes
    # (fgraph_from_model writes them, model_from_fgraph reads them).
    lengths = dict(fgraph._dim_lengths)  # noqa: SLF001
    coords = dict(fgraph._coords)  # noqa: SLF001
    if row_dim is not None:
        old = lengths[row_dim]
        if old not in replace:
            replace[old] = pytensor.shared(np.int64(rows.size), name=row_dim)
        lengths[row_dim] = replace[old]
        coords[row_dim] = None if coords.get(row_dim) is None else tuple(range(rows.size))
    outputs = clone_replace(fgraph.outputs, replace, rebuild_strict=False)
    _copy_names(fgraph.outputs, outputs)
    rebuilt = FunctionGraph(outputs=outputs, clone=False)
    rebuilt._coords, rebuilt._dim_lengths = coords, lengths  # noqa: SLF001
    return pm.model.fgraph.model_from_fgraph(rebuilt, mutate_fgraph=True)


def _row_arrays(outputs, n: int) -> list:
    """The constants and shared arrays (random generators aside) whose first axis is ``n``."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors
    from pytensor.tensor.type import TensorType

    return [
        v
        for v in ancestors(outputs)
        if isinstance(v, Constant | SharedVariable)
        and isinstance(v.type, TensorType)
        and np.ndim(_value(v)) >= 1
        and np.shape(_value(v))[0] == n
    ]


def _fixed_size(fgraph, obs_value, n: int):
    """The observed variable's ``size`` where it is the constant ``[n, ...]``, else None."""
    from pymc.model.fgraph import ModelObservedRV
    from pytensor.graph.basic import Constant

    node = next(n for n, _ in fgraph.clients[obs_value] if isinstance(n.op, ModelObservedRV))
    size = node.inputs[0].owner.inputs[1]  # ModelObservedRV(rv, value, ...): rv(rng, size, ...)
    if isinstance(size, Constant) and np.ndim(size.data) == 1 and size.data[:1].tolist() == [n]:
        return size
    return None


def _copy_names(old_outputs, new_outputs) -> None:
    """Give the rebuilt graph's variables the names of the ones they replace.

    A node rebuilt around new inputs has new, unnamed outputs; PyMC finds its model
    variables by name. The two graphs have the same structure, so their topological orders
    pair their nodes.
    """
    from pytensor.graph.traversal import io_toposort

    old_nodes, new_nodes = io_toposort([], old_outputs), io_toposort([], new_outputs)
    for old, new in zip(old_nodes, new_nodes, strict=True):
        for a, b in zip(old.outputs, new.outputs, strict=True):
            if b.name is None:
                b.name = a.name


def _value(var):
    return var.get_value(borrow=True) if hasattr(var, "get_value") else var.data

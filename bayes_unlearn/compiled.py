"""Any PyMC model's log densities on its unconstrained space, compiled once, batched over draws.

:class:`CompiledModel` takes a ``pm.Model`` with one observed variable whose rows (its first
axis) are conditionally independent given θ, and compiles, once:

* the per-row log-likelihood ``log p(y_i | θ)`` for any rows, shape (draws, rows);
* the log-prior with the log-Jacobians of PyMC's transforms, i.e. the log density of the
  unconstrained parameters ``u`` under the prior, shape (draws,);
* ``Σ_i c_i log p(y_i | u) + log p(u)`` and its gradient in ``u`` for per-row weights ``c``
  (a tempered or partial likelihood in one call: ``c_i = 1 − β`` for rows being forgotten);
* the maps between constrained draws (as PyMC stores them) and flat unconstrained vectors.

Every function is one PyTensor graph vectorized over a leading draws axis
(:func:`pytensor.graph.replace.vectorize_graph`), so a batch of 4000 draws is one call, not
a Python loop. The rows enter as inputs: the observed values and every ``pm.Data`` whose
first axis is the rows (named by the observed variable's first dim when it has dims, else
by length) are replaced by symbolic inputs, so any subset of rows or new rows (built by
calling the same builder on them) is evaluated without recompiling.

Rows baked into the graph as NumPy constants, the way most PyMC examples (and Bambi's design
matrices and group indices) are written, are lifted into inputs the same way: every constant
in the log-likelihood's graph whose first axis has the rows' length becomes an input, named
by its place in the graph. :meth:`CompiledModel.confirm_rows` checks that the same builder on
fewer rows puts constants of that length in the same places (a constant that merely has the
rows' length by coincidence would not), and refuses the model if not.

Refused, with the reason: more or fewer than one observed variable, discrete free
variables, ``pm.Potential`` terms (they can couple rows), an observed log-density that is
not one value per row, and row-length constants that do not follow the rows.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Mapping

import numpy as np

from bayes_unlearn import _backend, _function_cache, _scatter
from bayes_unlearn._cache import LRUCache

__all__ = ["CompiledModel", "RowsNotInputsError", "UnsupportedModelError", "check_model"]

#: The compiled functions (each compiled on first use; :meth:`CompiledModel.precompile`).
FUNCTIONS = (
    "loglik",
    "loglik_sums",
    "logprior",
    "logprior_constrained",
    "logp_grad",
    "constrain",
    "unconstrain",
)

#: Most values of a (draws, rows) intermediate per compiled call (8 MB): larger batches of
#: draws are split (:meth:`CompiledModel._in_batches`).
BATCH_VALUES = 1_000_000

#: Fewest values per compiled call when there are more draws: a block of few rows takes more
#: than ``batch_draws`` draws at once, so the call's fixed cost is spread (PSIS-LOO of the
#: radon model, 919 rows x 4000 draws in blocks of 250 rows: 0.33 s in calls of 256 draws,
#: 0.29 s in calls of at least 2^18 values).
CALL_VALUES = 2**18


class UnsupportedModelError(ValueError):
    """The PyMC model is outside what unlearning can handle (see :func:`check_model`)."""


class RowsNotInputsError(UnsupportedModelError):
    """Row-length arrays are baked into the graph, so rows cannot be fed as inputs."""


@dataclasses.dataclass(frozen=True)
class _Block:
    name: str  # the free variable (constrained) name
    value_name: str  # its unconstrained value variable
    shape: tuple[int, ...]
    start: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))


class CompiledModel:
    """Vectorized, compiled log densities of a PyMC model (see the module docstring).

    Parameters
    ----------
    model : pm.Model
        Built on the training rows.
    observed : str, optional
        Name of the observed variable (default: the only one).

    Attributes
    ----------
    names : tuple of str
        Free variables, in the order of the flat unconstrained vector.
    dim : int
        Length of the flat unconstrained vector.
    row_data : dict of str to ndarray
        The training rows' values of every row input (the observed under ``"__observed__"``).
    row_inputs : dict of str to TensorVariable
        The symbolic row inputs, any number of rows, by the same names.
    loglik : TensorVariable
        Each row's log-likelihood in the value variables and :attr:`row_inputs`.
    """

    OBSERVED = "__observed__"
    #: Draws per call of a compiled function (see ``_in_batches``).
    batch_draws = 256

    def __init__(self, model, observed: str | None = None):
        pm = _backend.pymc()
        self._pm = pm
        self.model = model
        self.obs_rv = check_model(model, observed)
        self.n_rows = int(np.shape(_value_of(model.rvs_to_values[self.obs_rv]))[0])
        self.blocks = _blocks(model)
        self.names = tuple(b.name for b in self.blocks)
        self.dim = sum(b.size for b in self.blocks)
        self._row_vars = _row_variables(model, self.obs_rv, self.n_rows)
        # The per-row log-likelihood graph with rows as inputs: built once, used by the
        # cache key and compilation.
        self.row_inputs = _row_inputs(self._row_vars)
        loglik = _row_log_likelihood(pm, model, self.obs_rv, self._row_vars, self.row_inputs)
        #: Places (in the graph's constants) of the row-length constants lifted into inputs.
        self.lifted = tuple(place for place, _ in _row_constants(loglik, self.n_rows))
        self.loglik = self._lift(loglik)
        self.row_data = {name: np.asarray(_value_of(var)) for name, var in self._row_vars.items()}

    def _lift(self, loglik):
        """``loglik`` with its row-length constants replaced by row inputs."""
        from pytensor.graph.replace import clone_replace

        if not self.lifted:
            return loglik
        replace = {}
        for k, (_, const) in enumerate(_row_constants(loglik, self.n_rows)):
            name = f"{LIFTED}{k}"
            self._row_vars[name] = const
            self.row_inputs[name] = _tensor(f"{name}_rows", const.dtype, const.ndim)
            replace[const] = self.row_inputs[name]
        # Rebuilt node by node, so static shapes taken from the constants (e.g. 120 rows)
        # give way to the inputs' free ones, instead of a SpecifyShape pinning them.
        return clone_replace(loglik, replace, rebuild_strict=False)

    # --- data ---------------------------------------------------------------------------
    def rows_of(self, model) -> dict[str, np.ndarray]:
        """The row inputs of ``model``: the same builder called on other rows."""
        obs = _observed_rv(model, self.obs_rv.name)
        n = int(np.shape(_value_of(model.rvs_to_values[obs]))[0])
        variables = _row_variables(model, obs, n)
        if self.lifted:
            variables |= self._lifted_in(model, obs, variables, n)
        if set(variables) != set(self._row_vars):
            raise UnsupportedModelError(
                f"The model built on {n} rows has row inputs {sorted(variables)}, the compiled "
                f"one {sorted(self._row_vars)}: build row-indexed data with pm.Data."
            )
        return {name: np.asarray(_value_of(var)) for name, var in variables.items()}

    def _lifted_in(self, model, obs, variables, n: int) -> dict:
        """The constants of ``model`` (built on ``n`` rows) in the places lifted here."""
        inputs = _row_inputs(variables)
        loglik = _row_log_likelihood(self._pm, model, obs, variables, inputs)
        constants = _constants(loglik)
        out = {}
        for k, place in enumerate(self.lifted):
            const = constants[place] if place < len(constants) else None
            mine = self._row_vars[f"{LIFTED}{k}"]
            if (
                const is None
                or const.ndim != mine.ndim
                or np.shape(const.data)[:1] != (n,)
                or np.shape(const.data)[1:] != np.shape(mine.data)[1:]
            ):
                raise RowsNotInputsError(
                    f"A constant of {self.n_rows} rows in the model's log-likelihood (an array "
                    f"of shape {np.shape(mine.data)}) is not the rows' own: the model built on "
                    f"{n} rows has no matching one. Put row-indexed arrays in pm.Data."
                )
            out[f"{LIFTED}{k}"] = const
        return out

    def confirm_rows(self, model) -> None:
        """Check the lifted constants against ``model``, the same builder on fewer rows.

        Raises
        ------
        RowsNotInputsError
            If a lifted constant has no counterpart of the other row count in the same place
            (it had the rows' length by coincidence), or the free variables' shapes differ
            (they depend on the rows: group levels taken from the data).
        """
        shapes = {rv.name: b.shape for rv, b in zip(self.model.free_RVs, self.blocks, strict=True)}
        other = {rv.name: b.shape for rv, b in zip(model.free_RVs, _blocks(model), strict=True)}
        if other != shapes:
            changed = {
                k: (shapes.get(k), other.get(k)) for k in shapes if other.get(k) != shapes[k]
            }
            raise RowsNotInputsError(
                f"The model's free variables change shape with its rows ({changed}): their "
                "levels come from the data, so a subset of rows is another model. Give the "
                "levels explicitly (coords, or pd.Categorical with every category)."
            )
        self.rows_of(model)

    def subset(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The training rows' inputs at positions ``rows``."""
        return {name: value[rows] for name, value in self.row_data.items()}

    # --- evaluation ---------------------------------------------------------------------
    def pointwise_log_likelihood(self, u: np.ndarray, data: Mapping | None = None) -> np.ndarray:
        """``log p(y_i | u_s)``, shape (draws, rows); ``data`` defaults to the training rows."""
        return self._in_batches("loglik", u, *self._data_args(data))

    def weighted_log_likelihoods(
        self, u: np.ndarray, weights: np.ndarray, data: Mapping | None = None
    ) -> np.ndarray:
        """``Σ_i W[i, j] log p(y_i | u_s)``, shape (draws, k), for ``weights`` W (rows, k).

        Sums of the log-likelihood over sets of rows (W's columns) in one pass, without the
        (draws, rows) array: each batch's block is reduced while it is in the cache.
        """
        weights = np.asarray(weights, dtype=float)
        return self._in_batches("loglik_sums", u, weights, *self._data_args(data))

    def log_prior(self, u: np.ndarray) -> np.ndarray:
        """Log prior density of unconstrained ``u`` (log-Jacobians included), shape (draws,)."""
        return self._in_batches("logprior", u)

    def log_prior_constrained(self, u: np.ndarray) -> np.ndarray:
        """Log prior density of the constrained parameters (no Jacobian), shape (draws,)."""
        return self._in_batches("logprior_constrained", u)

    def log_density_and_grad(
        self, u: np.ndarray, row_weights: np.ndarray | None = None, data: Mapping | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Σ_i c_i log p(y_i | u) + log p(u)`` and its gradient, shapes (draws,), (draws, dim).

        Where a draw fails the model's parameter checks its log density is ``-inf`` and its
        gradient 0 (the gradient skips the checks: see ``_checks_hoisted``).
        """
        args = self._data_args(data)
        n = np.shape(args[0])[0]
        c = np.ones(n) if row_weights is None else np.asarray(row_weights, dtype=float)
        with np.errstate(all="ignore"):  # out-of-bounds draws' gradients are discarded
            logp, grad = self._in_batches("logp_grad", u, c, *args)
        return logp, np.where(np.isneginf(logp)[:, None], 0.0, grad)

    def unconstrain(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Flat unconstrained vectors (draws, dim) from constrained draws by variable name."""
        missing = [name for name in self.names if name not in params]
        if missing:
            raise ValueError(f"Draws are missing the model's variables {missing}.")
        arrays = [np.asarray(params[name], dtype=float) for name in self.names]
        shapes = {
            b.name: (a.shape[1:], b.shape)
            for a, b in zip(arrays, self.blocks, strict=True)
            if a.shape[1:] != b.shape and a.ndim == len(b.shape) + 1
        }
        if shapes:
            raise RowsNotInputsError(
                f"The model built on these rows has free variables of other shapes than the "
                f"draws (draws, model: {shapes}): its levels come from the data, and rows "
                "taking a level away change the model. Give the levels explicitly (coords, or "
                "pd.Categorical with every category)."
            )
        with _CALLS:
            return self._functions["unconstrain"](*arrays)

    def constrain(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """Constrained draws by variable name from flat unconstrained vectors."""
        with _CALLS:
            values = self._functions["constrain"](np.atleast_2d(u))
        return dict(zip(self.names, values, strict=True))

    def _in_batches(self, name: str, u: np.ndarray, *args):
        """``name``'s function over ``batch_draws`` draws at a time, outputs concatenated.

        Each batch's (draws, rows) intermediates stay in the CPU cache: the radon model's
        log density and gradient over 4000 draws runs 2-4x faster in batches of 256 than
        in one call. With many rows the batches shrink so that a (draws, rows) block holds at
        most ``BATCH_VALUES`` values.
        """
        u = np.atleast_2d(u)
        with _CALLS:
            return self._batched(self._functions[name], u, args)

    def _batched(self, fn, u: np.ndarray, args):
        n_rows = max(len(args[0]) if args else 0, 1)  # row arrays, or the per-row weights first
        size = max(1, min(max(self.batch_draws, CALL_VALUES // n_rows), BATCH_VALUES // n_rows))
        if u.shape[0] <= size:
            return fn(u, *args)
        outs = [fn(u[i : i + size], *args) for i in range(0, u.shape[0], size)]
        if isinstance(outs[0], list):
            return tuple(np.concatenate(parts) for parts in zip(*outs, strict=True))
        return np.concatenate(outs)

    def _data_args(self, data):
        data = self.row_data if data is None else data
        return [np.asarray(data[name]) for name in self._row_vars]

    # --- compilation --------------------------------------------------------------------
    def precompile(self) -> None:
        """Compile (or load from the disk cache) every function, now rather than on first use."""
        for name in FUNCTIONS:
            self._functions[name]

    @functools.cached_property
    def _functions(self) -> _Functions:
        key = _structure_key(self)
        return COMPILED.get(("functions", key), lambda: _Functions(self, key))


class _Functions:
    """The compiled functions of one model structure, each compiled on first use (or loaded
    from :mod:`~bayes_unlearn._function_cache`, where an earlier process compiled it)."""

    def __init__(self, cm: CompiledModel, key: str):
        self._cm = cm
        self._key = key
        self._compiled: dict = {}
        self._graphs: dict | None = None

    def __getitem__(self, name: str):
        if name not in self._compiled:
            with _backend.quiet_compile():
                function = _DISK.load(self._key, name)
                if function is None:
                    if self._graphs is None:
                        self._graphs = _graphs(self._cm)
                    function = self._graphs[name]()
                    _DISK.store(self._key, name, function)
            self._compiled[name] = function
        return self._compiled[name]


#: Compiled functions by model structure (every posterior of one model shares them), and a
#: user's model compiled for the data it was built on (:class:`~bayes_unlearn.pymc_model.PyMCModel`).
COMPILED = LRUCache(maxsize=16)
#: The same functions on disk, for later processes (:mod:`~bayes_unlearn._function_cache`).
_DISK = _function_cache.FunctionCache(__name__, _scatter.__name__, "bayes_unlearn._ops")


def _structure_key(cm: CompiledModel) -> str:
    """What compiled functions depend on: the graphs (rows symbolic) and any other data."""
    import hashlib
    import re

    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors
    from pytensor.printing import debugprint

    model = cm.model
    # The prior is fixed by the free variables' generative graphs and their transforms
    # (cheaper to print than its log density graph).
    graphs = [cm.loglik, *model.free_RVs]
    transforms = [type(model.rvs_to_transforms.get(rv)).__qualname__ for rv in model.free_RVs]
    text = debugprint(graphs, file="str", print_type=True)
    # Random generators print with their memory address; the seed does not change the graph.
    digest = hashlib.sha256(re.sub(r" at 0x[0-9A-Fa-f]+", "", text).encode())
    digest.update(repr(transforms).encode())
    for var in ancestors(graphs):
        if hasattr(var, "get_value") or isinstance(var, Constant):
            value = np.asarray(_value_of(var))
            if value.dtype.kind in "biufc":
                digest.update(str(value.shape).encode() + np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _value_of(var):
    """The value of a ``pm.Data``, a constant, or a graph of them (PyMC casts observations
    of another dtype in the graph: a ``pm.Data`` of integers is int32, a Bernoulli int64)."""
    if hasattr(var, "get_value"):
        return var.get_value(borrow=True)
    return var.data if hasattr(var, "data") else var.eval()


def _observed_rv(model, observed):
    rvs = model.observed_RVs
    if observed is not None:
        rvs = [rv for rv in rvs if rv.name == observed]
        if not rvs:
            raise UnsupportedModelError(f"The model has no observed variable {observed!r}.")
    if len(rvs) != 1:
        raise UnsupportedModelError(
            f"The model has {len(rvs)} observed variables; unlearning needs exactly one whose "
            "rows are the training rows."
        )
    return rvs[0]


def check_model(model, observed: str | None = None):
    """The observed variable of a model unlearning can handle; else a clear refusal.

    Raises
    ------
    UnsupportedModelError
        Not exactly one observed variable, discrete free variables, ``pm.Potential`` terms,
        or a scalar observed variable.
    """
    obs_rv = _observed_rv(model, observed)
    _check_supported(model, obs_rv)
    return obs_rv


def _check_supported(model, obs_rv) -> None:
    discrete = [rv.name for rv in model.free_RVs if rv.dtype.startswith(("int", "uint", "bool"))]
    if discrete:
        raise UnsupportedModelError(
            f"Discrete free variables {discrete} are not supported: the unconstrained space "
            "must be continuous. Marginalize them out (e.g. pymc-extras' MarginalModel)."
        )
    if model.potentials:
        raise UnsupportedModelError(
            f"pm.Potential terms {[p.name for p in model.potentials]} are not supported: a "
            "potential can couple rows, so a row's likelihood could not be removed alone."
        )
    if obs_rv.ndim == 0:
        raise UnsupportedModelError(
            f"The observed variable {obs_rv.name!r} is a scalar; rows must be its first axis."
        )


def _blocks(model) -> list[_Block]:
    blocks, start = [], 0
    initial = model.initial_point()
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv]
        shape = tuple(np.shape(initial[value.name]))
        blocks.append(_Block(rv.name, value.name, shape, start))
        start += blocks[-1].size
    return blocks


def _row_variables(model, obs_rv, n_rows) -> dict:
    """The observed values and every ``pm.Data`` indexed by row, by name."""
    from pytensor.graph.traversal import ancestors

    observed = model.rvs_to_values[obs_rv]
    out = {CompiledModel.OBSERVED: observed}
    row_dim = (model.named_vars_to_dims.get(obs_rv.name) or (None,))[0]
    in_observed = set(ancestors([observed]))  # the observations, cast or not
    for var in model.data_vars:
        if var in in_observed:
            continue
        dims = model.named_vars_to_dims.get(var.name)
        value = _value_of(var)
        if row_dim is not None and dims:
            is_row = dims[0] == row_dim
        else:
            is_row = np.ndim(value) >= 1 and np.shape(value)[0] == n_rows
        if is_row:
            out[var.name] = var
    return out


def _graphs(cm: CompiledModel) -> dict:
    """Thunks compiling each function (the graphs are built once, compiled on demand)."""
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    model = cm.model
    row_inputs = cm.row_inputs
    values = [model.rvs_to_values[rv] for rv in model.free_RVs]
    loglik, logprior, prior_only = _checks_to_ninf(
        [
            cm.loglik,
            model.logp(vars=model.free_RVs, jacobian=True, sum=True),
            model.logp(vars=model.free_RVs, jacobian=False, sum=True),
        ]
    )
    weights = pt.vector("row_weights")
    sums = pt.matrix("row_sums")  # (rows, k): k weighted sums of the rows' log-likelihoods
    # The row checks judged once per draw, on the sum, and kept out of the gradient (which
    # is meaningless where the density is -inf): per row they were switches over every
    # (draw, row) element and a sum of them.
    raw, verdict = _checks_hoisted(cm.loglik)
    weighted = (weights * raw).sum()
    logp = pt.switch(verdict, weighted, -np.inf) + logprior
    grads = pt.grad(weighted + logprior, values)

    flat = pt.matrix("u")
    batched = {
        v: flat[:, b.start : b.start + b.size].reshape((flat.shape[0], *b.shape))
        for v, b in zip(values, cm.blocks, strict=True)
    }

    def vec(outputs):
        return vectorize_graph(outputs, replace=batched)

    flat_grad = pt.concatenate([g.reshape((flat.shape[0], -1)) for g in vec(grads)], axis=1)
    rows = list(row_inputs.values())
    compile_ = functools.partial(pytensor.function, on_unused_input="ignore", mode=_scatter.mode())
    constrained = model.replace_rvs_by_values(model.free_RVs)
    return {
        "loglik": lambda: compile_([flat, *rows], vec(loglik)),
        "loglik_sums": lambda: compile_([flat, sums, *rows], vec(loglik) @ sums),
        "logprior": lambda: compile_([flat], vec(logprior)),
        "logprior_constrained": lambda: compile_([flat], vec(prior_only)),
        "logp_grad": lambda: compile_([flat, weights, *rows], [vec(logp), flat_grad]),
        "constrain": lambda: compile_([flat], vec(constrained)),
        "unconstrain": lambda: _compile_unconstrain(cm, pt, vectorize_graph, compile_),
    }


def _checks_to_ninf(outputs: list) -> list:
    """PyMC's parameter checks as ``-inf`` instead of errors, one verdict per draw.

    A check raises for the whole call, so one draw that strays out of bounds (a leapfrog step
    underflowing a scale to 0) would fail a batch. PyMC's own rewrite turns each check into a
    switch to ``-inf``; applied here, before vectorizing, it judges each draw on its own
    (after vectorizing, the check's ``all`` would span the whole batch).
    """
    from pymc.logprob.utils import CheckParameterValue, local_check_parameter_to_ninf_switch
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import applys_between, graph_inputs

    for _ in range(10):  # checks nested in checks are replaced one level per pass
        checks = {
            node.outputs[0]: local_check_parameter_to_ninf_switch.transform(None, node)
            for node in applys_between(list(graph_inputs(outputs)), outputs)
            if isinstance(node.op, CheckParameterValue)
        }
        replace = {old: new[0] for old, new in checks.items() if new}
        if not replace:
            break
        outputs = graph_replace(outputs, replace, strict=False)
    return outputs


def _checks_hoisted(loglik):
    """``loglik`` without PyMC's parameter checks, and one boolean: whether all of them pass.

    ``Σ_i c_i switch(ok_i, l_i, −inf)`` is ``switch(all ok, Σ_i c_i l_i, −inf)`` for weights
    ``c ≥ 0`` (and is not NaN where a zero weight meets ``−inf``), and its gradient needs no
    (draws, rows) switch.
    """
    import pytensor.tensor as pt
    from pymc.logprob.utils import CheckParameterValue
    from pytensor.graph.replace import graph_replace
    from pytensor.graph.traversal import applys_between, graph_inputs

    outputs = [loglik]
    for _ in range(10):  # checks nested in checks are removed one level per pass
        nodes = [
            node
            for node in applys_between(list(graph_inputs(outputs)), outputs)
            if isinstance(node.op, CheckParameterValue)
        ]
        if not nodes:
            break
        outputs += [cond for node in nodes for cond in node.inputs[1:]]
        replace = {node.outputs[0]: node.inputs[0] for node in nodes}
        outputs = graph_replace(outputs, replace, strict=False)
    raw, conditions = outputs[0], outputs[1:]
    if not conditions:
        return raw, pt.as_tensor(np.array(True))
    return raw, pt.all(pt.stack([pt.all(cond) for cond in conditions]))


def _compile_unconstrain(cm, pt, vectorize_graph, compile_):
    """Constrained draws → flat unconstrained vectors (PyMC's forward transforms)."""
    from pytensor.graph.replace import graph_replace

    model = cm.model
    inputs = {rv: _tensor(f"{rv.name}_draws", rv.dtype, rv.ndim + 1) for rv in model.free_RVs}
    one = {rv: _tensor(f"{rv.name}_one", rv.dtype, rv.ndim) for rv in inputs}
    pieces = []
    for rv in model.free_RVs:
        transform = model.rvs_to_transforms.get(rv)
        graph = one[rv] if transform is None else transform.forward(one[rv], *rv.owner.inputs)
        pieces.append(pt.as_tensor(graph).flatten())
    flat_one = graph_replace(pt.concatenate(pieces), {rv: one[rv] for rv in one}, strict=False)
    flat = vectorize_graph(flat_one, replace={one[rv]: inputs[rv] for rv in one})
    return compile_(list(inputs.values()), flat)


def _row_inputs(row_vars: dict) -> dict:
    """A symbolic input, any number of rows, for every row variable."""

    return {name: _tensor(f"{name}_rows", var.dtype, var.ndim) for name, var in row_vars.items()}


def _tensor(name: str, dtype: str, ndim: int):
    """A symbolic input of any length along each axis.

    Built from its type: ``pt.tensor`` reads a name such as ``"1|g_sigma_draws"`` (Bambi's)
    as a NumPy dtype string and fails.
    """
    import pytensor.tensor as pt

    return pt.TensorType(dtype=dtype, shape=(None,) * ndim)(name=name)


#: A compiled PyTensor function keeps its inputs and outputs in its own storage: two threads
#: calling it at once (sweeps over blocks of rows on NumPy threads or Dask's threaded
#: scheduler) would overwrite each other's. Calls are serialized; processes (a
#: dask.distributed cluster) each hold their own functions.
_CALLS = threading.RLock()


def _fresh_lock_in_child() -> None:
    # A fork while another thread holds the lock would leave the child's copy held forever.
    global _CALLS
    _CALLS = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_in_child)


def _row_log_likelihood(pm, model, obs_rv, row_vars: dict, row_inputs: dict):
    """The observed variable's elementwise log density, in value variables and row inputs.

    PyMC sizes an observed variable by its data (a constant such as ``[100]``) or by the
    length of its row dim (a shared variable where the dim is mutable, as Bambi's ``__obs__``);
    either is replaced by the row input's own shape, so the graph follows any number of rows
    and one compiled function (one structure key) serves every subset of them.
    """
    from pytensor.graph.basic import Constant
    from pytensor.graph.replace import graph_replace

    obs_input = row_inputs[CompiledModel.OBSERVED]
    loglik = pm.logp(obs_rv, obs_input)
    size = obs_rv.owner.inputs[1]
    if isinstance(size, Constant) and np.ndim(size.data) == 1 and size.data.size:
        loglik = graph_replace(loglik, {size: obs_input.shape[: size.data.size]}, strict=False)
    row_dim = (model.named_vars_to_dims.get(obs_rv.name) or (None,))[0]
    length = model.dim_lengths.get(row_dim) if row_dim is not None else None
    if hasattr(length, "get_value"):
        loglik = graph_replace(loglik, {length: obs_input.shape[0]}, strict=False)
    loglik = model.replace_rvs_by_values([loglik])[0]
    data = {
        var: row_inputs[name] for name, var in row_vars.items() if name != CompiledModel.OBSERVED
    }
    if data:
        loglik = graph_replace(loglik, data, strict=False)
    if loglik.ndim > 1:  # a row is the first axis; its log density sums over the rest
        loglik = loglik.sum(axis=tuple(range(1, loglik.ndim)))
    return loglik


#: Name prefix of the row inputs that replace row-length constants.
LIFTED = "row_constant_"


def _constants(graph) -> list:
    """The array constants of ``graph``, in the order of a traversal from its output."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors

    return [v for v in ancestors([graph]) if isinstance(v, Constant) and np.ndim(v.data) >= 1]


def _row_constants(loglik, n_rows: int) -> list:
    """``(place, constant)`` for each constant whose first axis has the rows' length."""
    if n_rows <= 1:
        return []
    return [
        (place, v) for place, v in enumerate(_constants(loglik)) if np.shape(v.data)[0] == n_rows
    ]

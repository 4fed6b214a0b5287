"""A user's own PyMC model as a :class:`~bayes_unlearn.models.BayesianModel`: :class:`PyMCModel`.

Its log densities come from PyMC's graph, compiled with the rows as inputs
(:mod:`bayes_unlearn.compiled`), and are kept by data in a bounded cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from bayes_unlearn import _backend
from bayes_unlearn.import_paths import import_path
from bayes_unlearn.models import BayesianModel, Params

__all__ = ["PyMCModel"]


def _data_digest(*arrays) -> str:
    """A digest of arrays' dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode() + a.tobytes())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True, eq=False)
class PyMCModel(BayesianModel):
    """A user's own PyMC model, given as a function from data to ``pm.Model``.

    Pointwise log-likelihoods, log-priors and their gradients come from the model itself,
    compiled once and batched over draws (:mod:`bayes_unlearn.compiled`), so any model with
    one observed variable whose rows are independent given θ can be unlearned, with every
    method (reweighting, moment matching, SMC, refit). Rows are inputs of the compiled
    graph, so any subset is evaluated without recompiling: row-indexed ``pm.Data`` directly,
    and arrays the builder bakes into the graph as constants once the builder on one row
    fewer confirms that they follow the rows (:meth:`CompiledModel.confirm_rows`). What
    cannot be lifted (free variables whose shapes come from the rows) is refused with the
    reason, and such a model goes through PyMC's per-draw
    :func:`pymc.compute_log_likelihood`. Discrete free variables and ``pm.Potential`` terms
    are refused. A fitted ``pm.Model`` or Bambi model without a builder:
    :func:`~bayes_unlearn.from_pymc`, :func:`~bayes_unlearn.from_bambi`.

    Parameters
    ----------
    builder : callable
        ``builder(X, y) -> pm.Model``. It must accept any number of rows (refits and forget
        sets use subsets) and observe ``y`` in a variable named ``observed``.
    observed : str, default "y"
        Name of the observed variable.
    mean_fn : callable, optional
        ``mean_fn(params, X) -> (draws, rows)`` array of ``E[y | x, θ]``, which enables
        ``predict``/``predict_proba``; ``params`` maps variable names to arrays with the draw
        on the first axis.
    binary : bool, default False
        Whether ``y`` holds 0/1 labels (enables ``predict_proba``).

    Notes
    -----
    Features are passed to ``builder`` as given (no standardization). A builder in an
    importable module is stored by its import path, and imported on load only where the
    caller trusts it (``bu.load(path, trusted=[...])``); any other is passed again:
    ``bu.load(path, model=bu.PyMCModel(builder))``.

    Examples
    --------
    >>> import pymc as pm
    >>> def robust(X, y):
    ...     with pm.Model() as m:
    ...         a = pm.Normal("a", 0, 5)
    ...         b = pm.Normal("b", 0, 5, shape=X.shape[1])
    ...         pm.StudentT("y", nu=4, mu=a + X @ b, sigma=1.0, observed=y)
    ...     return m
    >>> model = PyMCModel(robust)
    """

    kind: ClassVar[str] = "custom"
    #: Each block is a compiled call (or PyMC's loop over draws), whose fixed cost larger
    #: blocks spread: PSIS-LOO of the radon model took 0.41 s in blocks of 10^5 values,
    #: 0.29 s in blocks of 10^6. The compiled call batches draws for the cache itself.
    block_values: ClassVar[int] = 1_000_000
    builder: Callable[[np.ndarray, np.ndarray], Any] | None = None
    observed: str = "y"
    mean_fn: Callable[[Params, np.ndarray], np.ndarray] | None = None
    binary: bool = False
    standardize: bool = False
    builder_path: str | None = None

    def __post_init__(self):
        # A stored builder_path is only a name: it is imported by model_from_dict, and only
        # when the caller trusts it (bayes_unlearn.load's ``trusted``), never here.
        if self.builder is not None and not callable(self.builder):
            raise TypeError(
                "The 'builder' parameter of PyMCModel must be a callable (X, y) -> pm.Model."
            )

    @property
    def binary_target(self) -> bool:  # type: ignore[override]
        return self.binary

    def _builder(self):
        if self.builder is None:
            where = (
                f"its builder {self.builder_path!r} could not be imported"
                if self.builder_path
                else "its builder function has no import path (defined in __main__, a "
                "notebook, a function or a lambda), so the file only names it"
            )
            raise ValueError(
                f"This posterior was fitted with a custom PyMC model and {where}. Pass it "
                "again: bu.load(path, model=bu.PyMCModel(builder)), or define the builder "
                "in an importable module; a posterior wrapped from a pm.Model or a Bambi "
                "model needs that model: bu.load(path, model=model)."
            )
        return self.builder

    def build(self, X_std, y, *, term_names):
        from bayes_unlearn.compiled import check_model

        model = self._builder()(X_std, y)
        check_model(model, self.observed)
        return model

    def _compiled(self, X_std, y):
        """The generic compiled path for this data, or None where its rows cannot be inputs."""
        from bayes_unlearn.compiled import RowsNotInputsError

        try:
            return self.compiled_for(X_std, y)
        except RowsNotInputsError:
            return None

    def compiled_for(self, X_std, y):
        """The model's compiled densities on these rows, rows as inputs.

        Rows baked into the graph as constants are lifted into inputs, once confirmed by
        the builder on one row fewer (:meth:`CompiledModel.confirm_rows`). Kept by model and
        data in :data:`bayes_unlearn.compiled.COMPILED` (building the model and its graphs
        takes 0.1-0.3 s; a new posterior's log-likelihood and log-prior ask for the same
        data in turn, and every request on a posterior for the posterior's own), refusals
        too.

        Raises
        ------
        RowsNotInputsError
            With the reason, where row-length constants do not follow the rows or the free
            variables' shapes depend on them.
        """
        from bayes_unlearn.compiled import COMPILED, CompiledModel, RowsNotInputsError

        def build():
            try:
                built = CompiledModel(self.build(X_std, y, term_names=()), observed=self.observed)
                if built.lifted:
                    built.confirm_rows(self.build(X_std[:-1], y[:-1], term_names=()))
            except RowsNotInputsError as err:
                return err
            return built

        # The model itself in the key (hashed by identity): an id could be reused once it is
        # collected, and another model would get this one's graph.
        found = COMPILED.get(("model", self, _data_digest(X_std, y)), build)
        if isinstance(found, Exception):
            raise type(found)(*found.args)  # a fresh traceback each time
        return found

    def _idata(self, params):
        import arviz as az

        return az.from_dict(posterior={k: v[None] for k, v in params.items()})

    def rows_log_likelihood(self, params, X_std, y):
        compiled = self._compiled(X_std, y)
        if compiled is None:
            return super().rows_log_likelihood(params, X_std, y)
        u = compiled.unconstrain(params)  # once, for every chunk
        return lambda positions: compiled.pointwise_log_likelihood(u, compiled.subset(positions))

    def pointwise_log_likelihood(self, params, X_std, y):
        compiled = self._compiled(X_std, y)
        if compiled is not None:
            return compiled.pointwise_log_likelihood(compiled.unconstrain(params))
        pm = _backend.pymc()  # row arrays are constants: PyMC's per-draw loop instead

        model = self._builder()(X_std, y)
        ll = pm.compute_log_likelihood(
            self._idata(params),
            model=model,
            var_names=[self.observed],
            extend_inferencedata=False,
            progressbar=False,
        )
        return ll[self.observed].values[0].reshape(-1, len(y))

    def log_prior(self, params, X_std=None, y=None):
        compiled = self._compiled(X_std, y)
        if compiled is not None:
            return compiled.log_prior_constrained(compiled.unconstrain(params))
        pm = _backend.pymc()

        model = self._builder()(X_std, y)
        lp = pm.compute_log_prior(
            self._idata(params), model=model, extend_inferencedata=False, progressbar=False
        )
        n_draws = next(iter(params.values())).shape[0]
        return sum(lp[v].values[0].reshape(n_draws, -1).sum(axis=1) for v in lp.data_vars)

    def mean_function(self, params, X_std):
        if self.mean_fn is None:
            raise NotImplementedError(
                "Predictions from a custom PyMC model need mean_fn: "
                "PyMCModel(builder, mean_fn=lambda params, X: ...)."
            )
        return np.asarray(self.mean_fn(params, X_std))

    def to_dict(self):
        return {
            "kind": self.kind,
            "builder": None
            if self.builder is None
            else getattr(self.builder, "__qualname__", type(self.builder).__name__),
            "builder_path": import_path(self.builder) or self.builder_path,
            "mean_fn_path": import_path(self.mean_fn) if self.mean_fn is not None else None,
            "observed": self.observed,
            "binary": self.binary,
            "standardize": False,
        }

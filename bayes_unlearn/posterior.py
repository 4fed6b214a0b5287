"""The stored posterior: draws, their weights, the data needed to forget rows, provenance."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from contextlib import nullcontext
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from bayes_unlearn import _weighted, registry
from bayes_unlearn._rowwise import map_over_rows, sum_over_rows
from bayes_unlearn._validation import check_probability, check_X, check_X_y
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.integrity import Key, check_key, row_fingerprints
from bayes_unlearn.layout import (
    SAMPLE_DIMS,
    SAVEABLE_SOURCES,
    flatten_draws,
    positions_of,
)
from bayes_unlearn.models import BayesianModel
from bayes_unlearn.options import set_options
from bayes_unlearn.pymc_model import PyMCModel
from bayes_unlearn.scaling import Standardizer

__all__ = ["Posterior"]

#: What moved out of the class in 0.2, and where it lives now.
_MOVED = {
    "save": "bayes_unlearn.save(posterior, path)",
    "refresh": "bayes_unlearn.refresh(posterior)",
    "to_inference_data": "bayes_unlearn.to_inference_data(posterior)",
}


@dataclasses.dataclass(frozen=True, eq=False)
class Posterior:
    """Posterior draws of a fitted Bayesian model, ready to forget training rows.

    Create one with :func:`bayes_unlearn.fit` or :func:`bayes_unlearn.load`; every forget
    request (:func:`bayes_unlearn.unlearn`) returns a new ``Posterior``.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior`` (the draws), ``sample_stats`` (``log_joint`` = h(θ) = log p(D|θ) +
        log p(θ) for the data the draws were sampled from; in memory only, after a
        reweighting, ``log_weight`` and the raw ``log_importance_ratio``),
        ``observed_data`` and ``constant_data`` (the remaining rows; pointwise
        log-likelihoods are computed on demand: :meth:`log_likelihood`).
        :mod:`bayes_unlearn.layout` owns it.
    model : BayesianModel
        The model specification.
    standardizer : Standardizer
        Feature scaling, learned on the rows the posterior conditions on (after a forget
        request, the remaining rows: the draws are re-expressed in that scaling).
    feature_names : tuple of str
        Names of the feature columns.
    target_name : str
        Name of the target column.
    sampler : dict
        The MCMC settings (draws, tune, chains, target_accept, random_seed) a refit reuses.
    history : tuple of dict
        Forget requests applied so far: method, row ids, fingerprints, rows left.
    diagnostics : UnlearningDiagnostics or None
        Diagnostics of the last step (the fit or the latest forget request).
    draws_source : {"fit", "refit", "reweight", "moment_match", "smc", "refresh", "smc_chains"}
        What produced the draws. Only "fit", "refit", "refresh" and "smc_chains" draws are
        written to a file as they are; :func:`bayes_unlearn.save` refreshes the others first
        (SMC's HMC chains that forgot their starts become "smc_chains" without moving).
    """

    idata: Any
    model: BayesianModel
    standardizer: Standardizer
    feature_names: tuple[str, ...]
    target_name: str
    sampler: dict[str, Any]
    history: tuple[dict[str, Any], ...] = ()
    diagnostics: UnlearningDiagnostics | None = None
    draws_source: str = registry.FIT

    # --- draws and weights -----------------------------------------------------------------
    @property
    def n_draws(self) -> int:
        """Number of stored draws (chains x draws)."""
        post = self.idata.posterior
        return post.sizes["chain"] * post.sizes["draw"]

    @property
    def row_ids(self) -> np.ndarray:
        """Ids of the training rows still in the posterior."""
        return self.idata.observed_data["obs_id"].values.astype(np.int64)

    @property
    def forgotten_row_ids(self) -> np.ndarray:
        """Ids of all rows forgotten so far."""
        ids = [i for req in self.history for i in req["row_ids"]]
        return np.array(sorted(ids), dtype=np.int64)

    @property
    def log_weights(self) -> np.ndarray:
        """Normalized log importance weights of the draws, flattened (chain-major).

        Normalized here, not only where they are written: draws selected from a posterior
        (a stuck chain dropped with ``idata.sel(chain=...)``) keep their stored weights,
        which then sum to less than one.
        """
        return _weighted.normalize_log_weights(self.idata.sample_stats["log_weight"].values.ravel())

    @property
    def weights(self) -> np.ndarray:
        """Normalized importance weights of the draws (uniform after an MCMC fit)."""
        return np.exp(self.log_weights)

    @property
    def is_weighted(self) -> bool:
        """Whether the draws carry non-uniform weights."""
        return not np.allclose(self.log_weights, -np.log(self.n_draws), rtol=0, atol=1e-12)

    @cached_property
    def params(self) -> dict[str, np.ndarray]:
        """Draws by variable, each with the draw (chain-major) on axis 0."""
        post = self.idata.posterior
        return {name: flatten_draws(post[name].values) for name in post.data_vars}

    def compiled(self):
        """The model's log densities on its training rows, compiled once per model structure.

        Returns
        -------
        bayes_unlearn.compiled.CompiledModel
            Per-row log-likelihoods, the log prior and gradients on PyMC's unconstrained
            space, batched over draws; rows in the order of :attr:`row_ids`.
        """
        from bayes_unlearn.compiled import CompiledModel

        X, y = self.training_data()
        X_std = self.standardizer.transform(X)
        if isinstance(self.model, PyMCModel):  # keeps the last two, and checks lifted rows
            return self.model.compiled_for(X_std, y)
        pm_model = self.model.build(X_std, y, term_names=self.model.term_names(self.feature_names))
        return CompiledModel(pm_model, observed=getattr(self.model, "observed", None))

    # --- data ----------------------------------------------------------------------------
    def training_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Raw features and target of the remaining rows (what a refit conditions on)."""
        return (
            self.idata.constant_data["X"].values.astype(np.float64),
            self.idata.observed_data["y"].values.astype(np.float64),
        )

    def find_rows(self, X, y, *, key: Key | None = None) -> np.ndarray:
        """Row ids of training rows equal (in features and target) to the rows given.

        Parameters
        ----------
        X : array-like or DataFrame, shape (m, n_features)
        y : array-like, shape (m,)
        key : bytes or str, optional
            The fingerprint key passed to :func:`~bayes_unlearn.unlearn`. With it, a row
            that was already forgotten is reported as such; without it the file cannot
            tell (by design: see "What forgetting guarantees" in the README).

        Returns
        -------
        ndarray of int
            The matching row ids, in the order given.

        Raises
        ------
        ValueError
            If a row is not among the remaining training rows (or was already forgotten).
        """
        X_arr, y_arr = check_X_y(
            X, y, n_features=len(self.feature_names), feature_names=self.feature_names
        )
        X_r, y_r = self.training_data()
        lookup = {
            r.tobytes(): i for r, i in zip(np.column_stack([X_r, y_r]), self.row_ids, strict=True)
        }
        key = check_key(key)
        wanted = row_fingerprints(X_arr, y_arr, key) if key else [None] * len(y_arr)
        forgotten = {fp for req in self.history for fp in req.get("fingerprints", ())}
        ids = []
        for k, row in enumerate(np.column_stack([X_arr, y_arr])):
            if row.tobytes() in lookup:
                ids.append(lookup[row.tobytes()])
            elif wanted[k] in forgotten:
                raise ValueError(
                    f"Row {k} of 'X' was already forgotten. A row can be forgotten only once."
                )
            else:
                hint = "" if key else " If it may have been forgotten already, pass key= to check."
                raise ValueError(
                    f"Row {k} of 'X' is not a training row of this posterior (no exact match). "
                    f"Check the values and column order, or pass row ids instead.{hint}"
                )
        return np.asarray(ids, dtype=np.int64)

    def log_likelihood(
        self, row_ids: Sequence[int] | None = None, *, chunk_rows: int | None = None
    ) -> np.ndarray:
        """Pointwise ``log p(z_i | θ_s)`` for remaining rows, shape (draws, rows).

        Computed on demand from the model, the draws and the rows (nothing of size rows x
        draws is stored), a block of rows at a time. The result itself has that size: to
        reduce over rows, see :meth:`summed_log_likelihood`.

        Parameters
        ----------
        row_ids : sequence of int, optional
            Remaining rows to evaluate (default all), in the order given.
        chunk_rows : int, optional
            Rows per block; default the ``chunk_rows`` option
            (:func:`bayes_unlearn.set_options`), else the model's ``block_values``
            (about 10^5 values a block for the built-in models).
        """
        positions = self._positions(row_ids)
        with set_options(chunk_rows=chunk_rows) if chunk_rows is not None else nullcontext():
            return map_over_rows(
                lambda rows: self.rows_log_likelihood(positions[rows]),
                positions.size,
                self.n_draws,
                "log-likelihood",
                values=self.model.block_values,
            )

    def summed_log_likelihood(self, row_ids: Sequence[int] | None = None) -> np.ndarray:
        """``Σ_i log p(z_i | θ_s)`` over remaining rows (default all), per draw: shape (draws,).

        Memory stays bounded whatever the number of rows: blocks of rows are evaluated and
        summed one at a time (or as Dask tasks; see :func:`bayes_unlearn.set_options`).
        """
        positions = self._positions(row_ids)
        return sum_over_rows(
            lambda rows: self.rows_log_likelihood(positions[rows]).sum(axis=1),
            positions.size,
            self.n_draws,
            "log-likelihood",
            values=self.model.block_values,
        )

    def _positions(self, row_ids) -> np.ndarray:
        return positions_of(self.row_ids, row_ids)

    @cached_property
    def rows_log_likelihood(self):
        """``positions ↦ log p(z_i | θ_s)``, (draws, rows), for the training rows at those
        positions (of :attr:`row_ids`). A user's PyMC model is compiled and the draws
        unconstrained once, not once per chunk of rows."""
        X, y = self.training_data()
        return self.model.rows_log_likelihood(self.params, self.standardizer.transform(X), y)

    def _x_std(self, X, name: str = "X") -> np.ndarray:
        X_arr = check_X(
            X, name=name, n_features=len(self.feature_names), feature_names=self.feature_names
        )
        return self.standardizer.transform(X_arr)

    # --- predictions ---------------------------------------------------------------------
    def _mean_draws(self, X) -> np.ndarray:
        return self.model.mean_function(self.params, self._x_std(X))

    def predict_proba(self, X) -> np.ndarray:
        """Posterior predictive probability ``P(y=1 | x, D)`` for each row (classifiers only).

        Parameters
        ----------
        X : array-like or DataFrame, shape (n, n_features)

        Returns
        -------
        ndarray, shape (n,)
        """
        if not self.model.binary_target:
            raise TypeError(
                "predict_proba needs a classification model; use predict for regression."
            )
        return _weighted.weighted_mean(self._mean_draws(X), self.weights)

    def predict(self, X) -> np.ndarray:
        """Posterior predictive mean; for classifiers the class with probability ≥ 0.5."""
        mean = _weighted.weighted_mean(self._mean_draws(X), self.weights)
        return (mean >= 0.5).astype(np.int64) if self.model.binary_target else mean

    def predict_interval(self, X, *, prob: float = 0.94) -> pd.DataFrame:
        """Weighted posterior mean and equal-tailed credible interval of ``E[y | x, θ]``.

        Parameters
        ----------
        X : array-like or DataFrame, shape (n, n_features)
        prob : float, default 0.94
            Interval probability (ArviZ's default).

        Returns
        -------
        DataFrame
            Columns ``mean``, ``lower``, ``upper``, one row per row of ``X``.
        """
        prob = check_probability(prob, "prob")
        draws = self._mean_draws(X)
        lo, hi = _weighted.weighted_quantile(draws, self.weights, [(1 - prob) / 2, (1 + prob) / 2])
        return pd.DataFrame(
            {"mean": _weighted.weighted_mean(draws, self.weights), "lower": lo, "upper": hi}
        )

    def log_predictive_density(self, X, y, *, pointwise: bool = False):
        """Log posterior predictive density ``log Σ_s w̃_s p(y_i | x_i, θ_s)``.

        Returns the sum over rows, or the per-row values when ``pointwise`` is True.
        """
        X_arr, y_arr = check_X_y(
            X,
            y,
            binary=self.model.binary_target,
            n_features=len(self.feature_names),
            feature_names=self.feature_names,
        )
        ll = self.pointwise_log_likelihood(X_arr, y_arr)
        lpd = _weighted.weighted_log_mean_exp(ll, self.log_weights)
        return lpd if pointwise else float(lpd.sum())

    def pointwise_log_likelihood(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``log p(y_i | x_i, θ_s)`` for new raw rows, shape (draws, rows)."""
        return self.model.pointwise_log_likelihood(self.params, self.standardizer.transform(X), y)

    def loo(self, *, pointwise: bool = False):
        """PSIS-LOO of the remaining rows, as :func:`arviz.loo` computes it, in bounded memory.

        ``az.loo`` needs the whole (draws, rows) log-likelihood in memory; this evaluates and
        Pareto-smooths (:func:`arviz.psislw`) a block of rows at a time (the ``chunk_rows``
        and ``dask`` options apply) and keeps three numbers per row.

        Parameters
        ----------
        pointwise : bool, default False
            Also return ``loo_i`` and ``pareto_k`` per row.

        Returns
        -------
        arviz.ELPDData
            ``elpd_loo``, ``se``, ``p_loo``, ``warning`` (some k̂ above
            ``min(1 − 1/log10 S, 0.7)``) and ``good_k``, on the log scale; usable by
            :func:`arviz.compare`.
        """
        import arviz as az
        import xarray as xr
        from scipy.special import logsumexp

        from bayes_unlearn._ess import relative_efficiency
        from bayes_unlearn.diagnostics import pareto_k_threshold

        if self.is_weighted:
            raise ValueError(
                "loo() needs equally weighted draws; call bu.refresh(posterior) first."
            )
        reff, n = relative_efficiency(self.idata.posterior), self.n_draws
        positions = np.arange(self.row_ids.size)

        def block(rows: slice) -> np.ndarray:
            ll = self.rows_log_likelihood(positions[rows]).T  # (rows, draws), as ArviZ wants
            log_w, k_hat = az.psislw(-ll, reff)
            log_w += ll
            lppd = logsumexp(ll, axis=1) - np.log(n)
            return np.stack([logsumexp(log_w, axis=1), lppd, k_hat])

        loo_i, lppd_i, k_hat = map_over_rows(
            block, positions.size, n, "PSIS-LOO", values=self.model.block_values
        )
        good_k = pareto_k_threshold(n)
        elpd = float(loo_i.sum())
        values = [elpd, float(np.sqrt(loo_i.size * np.var(loo_i))), float(lppd_i.sum()) - elpd]
        values += [n, loo_i.size, bool((k_hat > good_k).any())]
        index = ["elpd_loo", "se", "p_loo", "n_samples", "n_data_points", "warning"]
        if pointwise:
            obs = {"obs_id": self.row_ids}
            values += [xr.DataArray(loo_i, coords=obs), xr.DataArray(k_hat, coords=obs)]
            index += ["loo_i", "pareto_k"]
        return az.ELPDData(data=[*values, "log", good_k], index=[*index, "scale", "good_k"])

    # --- summaries -----------------------------------------------------------------------
    def parameter_draws(self) -> pd.DataFrame:
        """All scalar parameters as columns (``coef[Glucose]``, ...), one row per draw."""
        columns = {}
        post = self.idata.posterior
        for name in post.data_vars:
            da = post[name]
            extra = [d for d in da.dims if d not in SAMPLE_DIMS]
            flat = flatten_draws(da.values).reshape(self.n_draws, -1)
            if not extra:
                columns[name] = flat[:, 0]
                continue
            labels = (
                pd.MultiIndex.from_product([da[d].values for d in extra])
                if len(extra) > 1
                else da[extra[0]].values
            )
            for j, label in enumerate(labels):
                label = ",".join(map(str, label)) if isinstance(label, tuple) else label
                columns[f"{name}[{label}]"] = flat[:, j]
        return pd.DataFrame(columns)

    def summary(self, *, prob: float = 0.94) -> pd.DataFrame:
        """Weighted posterior mean, sd and equal-tailed interval of every parameter.

        For unweighted MCMC draws (a fit or a refit) the table also has ArviZ's bulk ESS and
        R-hat; for weighted or SMC draws see :attr:`diagnostics` instead.

        Parameters
        ----------
        prob : float, default 0.94
            Probability of the equal-tailed interval.

        Returns
        -------
        DataFrame
            One row per scalar parameter.
        """
        prob = check_probability(prob, "prob")
        draws = self.parameter_draws()
        values, w = draws.to_numpy(), self.weights
        lo, hi = _weighted.weighted_quantile(values, w, [(1 - prob) / 2, (1 + prob) / 2])
        pct = f"{100 * (1 - prob) / 2:g}%", f"{100 * (1 + prob) / 2:g}%"
        table = pd.DataFrame(
            {
                "mean": _weighted.weighted_mean(values, w),
                "sd": _weighted.weighted_sd(values, w),
                f"eti_{pct[0]}": lo,
                f"eti_{pct[1]}": hi,
            },
            index=draws.columns,
        )
        if self.draws_source in (registry.FIT, registry.REFIT.name):
            import arviz as az

            stats = az.summary(self.idata, kind="diagnostics")[["ess_bulk", "r_hat"]]
            table = table.join(stats)
        return table

    @property
    def is_saveable(self) -> bool:
        """Whether the draws may be written as they are (see :mod:`bayes_unlearn.layout`)."""
        return self.draws_source in SAVEABLE_SOURCES

    def __getattr__(self, name: str):
        # Only called for names the class lacks: point at the new home of a moved method.
        if name in _MOVED:
            raise AttributeError(
                f"Posterior.{name} moved in bayes-unlearn 0.2: use {_MOVED[name]} (I/O and "
                "the refresh act on a posterior; the class holds data and answers queries)."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        last = self.diagnostics.method if self.diagnostics else registry.FIT
        return (
            f"<Posterior {self.model.kind}: {self.n_draws} draws, {self.row_ids.size} rows, "
            f"{len(self.forgotten_row_ids)} forgotten, last step: {last}>"
        )

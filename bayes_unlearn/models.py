"""The built-in models and their base: each builds a PyMC model and evaluates its likelihood in NumPy.

A spec holds only the user's choices (priors, degree, ...). Feature standardization is
learned on the training rows and stored with the posterior as a
:class:`~bayes_unlearn.scaling.Standardizer`; a user's own PyMC model is
:class:`~bayes_unlearn.pymc_model.PyMCModel`.

The NumPy likelihoods are vectorized over draws and rows; they are what makes reweighting
cheap, and the test suite checks them against :func:`pymc.compute_log_likelihood`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import special

from bayes_unlearn import _backend
from bayes_unlearn._design import polynomial_design
from bayes_unlearn._rowwise import CHUNK_VALUES
from bayes_unlearn.import_paths import import_path
from bayes_unlearn.scaling import Standardizer, rescale_linear_predictor

__all__ = [
    "BUILT_IN_MODELS",
    "KINDS",
    "BayesianModel",
    "LogisticRegression",
    "Params",
    "PolynomialRegression",
]

Params = dict[str, np.ndarray]
"""Posterior draws by variable name; the first axis of every array is the draw."""


class BayesianModel(abc.ABC):
    """A Bayesian regression model the toolkit can fit, forget from and refit.

    Subclasses implement :meth:`build` (the PyMC model), and, for vectorized NumPy
    evaluation, :meth:`pointwise_log_likelihood`, :meth:`log_prior` and :meth:`mean_function`.
    """

    kind: ClassVar[str]
    binary_target: ClassVar[bool] = False
    standardize: bool = True
    #: Highest power of each standardized feature in the linear predictor (None: not a
    #: polynomial-in-features model, so draws cannot be moved to a new feature scaling).
    polynomial_degree: ClassVar[int | None] = None
    #: Values of a (draws, rows) block in sweeps over rows (:mod:`bayes_unlearn._rowwise`):
    #: cache-sized for models whose likelihood is a few NumPy passes.
    block_values: ClassVar[int] = CHUNK_VALUES

    @property
    def positive_params(self) -> tuple[str, ...]:
        """Variables constrained to be positive (moved on the log scale by SMC)."""
        return ()

    # --- design -------------------------------------------------------------------------
    def design(self, X_std: np.ndarray) -> np.ndarray:
        """Columns the coefficients multiply, from standardized features."""
        return X_std

    def term_names(self, feature_names: Sequence[str]) -> list[str]:
        """Names of the design columns, used as the ``term`` coordinate."""
        return list(feature_names)

    # --- PyMC ---------------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, X_std: np.ndarray, y: np.ndarray, *, term_names: Sequence[str]):
        """Return a ``pm.Model`` for standardized features ``X_std`` and target ``y``."""

    # --- NumPy --------------------------------------------------------------------------
    @abc.abstractmethod
    def pointwise_log_likelihood(
        self, params: Params, X_std: np.ndarray, y: np.ndarray
    ) -> np.ndarray:
        """``log p(y_i | x_i, θ_s)`` as an array of shape (draws, rows)."""

    def rows_log_likelihood(self, params: Params, X_std: np.ndarray, y: np.ndarray):
        """``positions ↦`` :meth:`pointwise_log_likelihood` of the rows at ``positions``.

        For evaluating many chunks of the same rows and draws: a model with a set-up cost
        (a compiled graph) pays it once here, not once per chunk.
        """
        return lambda positions: self.pointwise_log_likelihood(
            params, X_std[positions], y[positions]
        )

    @abc.abstractmethod
    def log_prior(
        self, params: Params, X_std: np.ndarray | None = None, y: np.ndarray | None = None
    ) -> np.ndarray:
        """``log p(θ_s)`` on the constrained scale (no Jacobian), shape (draws,).

        The data are needed only by custom models, whose PyMC graph is built from them.
        """

    @abc.abstractmethod
    def mean_function(self, params: Params, X_std: np.ndarray) -> np.ndarray:
        """``E[y | x, θ_s]`` (a probability for classifiers), shape (draws, rows)."""

    def reparametrize(self, params: Params, old: Standardizer, new: Standardizer) -> Params:
        """The same draws expressed for features scaled by ``new`` instead of ``old``
        (:func:`~bayes_unlearn.scaling.rescale_linear_predictor`); every other variable is
        unchanged."""
        if old == new:
            return params
        if self.polynomial_degree is None:
            raise NotImplementedError(
                f"{type(self).__name__} cannot move its draws to a new feature scaling; "
                "fit it with standardize=False."
            )
        return rescale_linear_predictor(params, old, new, self.polynomial_degree)

    # --- serialization ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data, stored in the posterior file.

        A subclass outside this package is stored with its import path, so that
        :func:`bayes_unlearn.load` can rebuild it (the class must be importable then).
        """
        data = {"kind": self.kind, **dataclasses.asdict(self)}  # type: ignore[call-overload]
        if type(self) not in KINDS.values():
            data["class"] = import_path(type(self))
        return data

    def parameter_shapes(self, feature_names: Sequence[str]) -> dict[str, tuple[int, ...]]:
        """Each parameter's shape per draw, for the linear predictor ``α + Σ β_k term_k``
        (intercept, one coefficient per design term) and :attr:`positive_params`."""
        n_terms = len(self.term_names(feature_names))
        return {"intercept": (), "coef": (n_terms,), **{p: () for p in self.positive_params}}

    def _linear_predictor(self, params: Params, X_std: np.ndarray) -> np.ndarray:
        # A C-contiguous (terms, rows) operand: with X.T's strides the product took 8x longer.
        eta = params["coef"] @ np.ascontiguousarray(self.design(X_std).T)
        eta += params["intercept"][:, None]  # in place: no second (draws x rows) array
        return eta


def _data_containers(pm, design: np.ndarray, y: np.ndarray):
    """The features and the observations as ``pm.Data``: with the observations as a
    constant, the graph took their shape, and every fit or refit on another number of rows
    compiled its own C module (about 1 s each)."""
    return pm.Data("X", design), pm.Data("y_observed", y)


def _normal_logpdf(x, loc, scale):
    """``log N(x | loc, scale²)``: scipy.stats' value without its per-call overhead (4 ms on
    a prior over 4000 draws, paid by every request of a stream)."""
    z = (x - loc) / scale
    return -0.5 * z * z - np.log(scale) - _HALF_LOG_2PI


_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclasses.dataclass(frozen=True)
class LogisticRegression(BayesianModel):
    """Bayesian logistic regression ``y ~ Bernoulli(logit⁻¹(α + X β))``.

    Parameters
    ----------
    intercept_prior_sd : float, default 2.5
        Standard deviation of the Normal(0, ·) prior on the intercept ``α``.
    coef_prior_sd : float, default 2.5
        Standard deviation of the Normal(0, ·) prior on each coefficient ``β_j``
        (on standardized features when ``standardize`` is True).
    standardize : bool, default True
        Center and scale features with constants learned at fit time.

    Examples
    --------
    >>> import bayes_unlearn as bu
    >>> model = bu.LogisticRegression(coef_prior_sd=1.0)
    """

    kind: ClassVar[str] = "logistic"
    binary_target: ClassVar[bool] = True
    polynomial_degree: ClassVar[int | None] = 1
    intercept_prior_sd: float = 2.5
    coef_prior_sd: float = 2.5
    standardize: bool = True

    def __post_init__(self):
        _check_positive(self, "intercept_prior_sd", "coef_prior_sd")

    def build(self, X_std, y, *, term_names):
        pm = _backend.pymc()

        with pm.Model(coords={"term": list(term_names)}) as model:
            X_data, y_data = _data_containers(pm, self.design(X_std), y)
            intercept = pm.Normal("intercept", 0.0, self.intercept_prior_sd)
            coef = pm.Normal("coef", 0.0, self.coef_prior_sd, dims="term")
            pm.Bernoulli("y", logit_p=intercept + X_data @ coef, observed=y_data)
        return model

    def pointwise_log_likelihood(self, params, X_std, y):
        # log p(y | η) = log σ(x) = min(x, 0) − log1p(exp(−|x|)) with x = (2y − 1) η:
        # overflow-safe, and NumPy's SIMD exp/log1p in place run 3x faster than
        # scipy.special.log_expit on (draws x rows) blocks (this sweep dominates SMC and
        # cause scores on many rows).
        x = self._linear_predictor(params, X_std)
        x *= 2.0 * np.asarray(y, dtype=np.float64) - 1.0
        tail = np.abs(x)
        np.negative(tail, out=tail)
        np.exp(tail, out=tail)
        np.log1p(tail, out=tail)
        np.minimum(x, 0.0, out=x)
        x -= tail
        return x

    def log_prior(self, params, X_std=None, y=None):
        return _normal_logpdf(params["intercept"], 0.0, self.intercept_prior_sd) + _normal_logpdf(
            params["coef"], 0.0, self.coef_prior_sd
        ).sum(axis=-1)

    def mean_function(self, params, X_std):
        return special.expit(self._linear_predictor(params, X_std))


@dataclasses.dataclass(frozen=True)
class PolynomialRegression(BayesianModel):
    """Bayesian polynomial regression ``y ~ Normal(α + Σ_j Σ_k β_jk x_j^k, σ)``.

    Each feature enters with its powers 1..``degree`` (no interaction terms), computed on
    standardized features so the powers stay well conditioned.

    Parameters
    ----------
    degree : int, default 1
        Highest power of each feature; ``degree=1`` is Bayesian linear regression.
    sigma : float or None, default None
        Fixed noise standard deviation, or None to learn it with a HalfNormal prior.
    intercept_prior_sd, coef_prior_sd : float, default 10.0
        Standard deviations of the Normal(0, ·) priors on ``α`` and each ``β``.
    sigma_prior_sd : float, default 5.0
        Scale of the HalfNormal prior on ``σ`` when it is learned.
    standardize : bool, default True
        Center and scale features (not the target) with constants learned at fit time.

    Examples
    --------
    >>> import bayes_unlearn as bu
    >>> model = bu.PolynomialRegression(degree=3, sigma=0.5)
    """

    kind: ClassVar[str] = "polynomial"
    degree: int = 1
    sigma: float | None = None
    intercept_prior_sd: float = 10.0
    coef_prior_sd: float = 10.0
    sigma_prior_sd: float = 5.0
    standardize: bool = True

    def __post_init__(self):
        if not isinstance(self.degree, int | np.integer) or self.degree < 1:
            raise ValueError(
                f"The 'degree' parameter must be an integer >= 1. Got {self.degree!r}."
            )
        _check_positive(self, "intercept_prior_sd", "coef_prior_sd", "sigma_prior_sd")
        if self.sigma is not None:
            _check_positive(self, "sigma")

    @property
    def positive_params(self):
        return ("sigma",) if self.sigma is None else ()

    @property
    def polynomial_degree(self) -> int:  # type: ignore[override]
        return self.degree

    def design(self, X_std):
        return polynomial_design(X_std, self.degree)

    def term_names(self, feature_names):
        if self.degree == 1:
            return list(feature_names)
        return [f"{name}^{k}" for k in range(1, self.degree + 1) for name in feature_names]

    def build(self, X_std, y, *, term_names):
        pm = _backend.pymc()

        with pm.Model(coords={"term": list(term_names)}) as model:
            X_data, y_data = _data_containers(pm, self.design(X_std), y)
            intercept = pm.Normal("intercept", 0.0, self.intercept_prior_sd)
            coef = pm.Normal("coef", 0.0, self.coef_prior_sd, dims="term")
            sigma = (
                pm.HalfNormal("sigma", self.sigma_prior_sd) if self.sigma is None else self.sigma
            )
            pm.Normal("y", mu=intercept + X_data @ coef, sigma=sigma, observed=y_data)
        return model

    def _sigma(self, params):
        return params["sigma"][:, None] if self.sigma is None else self.sigma

    def pointwise_log_likelihood(self, params, X_std, y):
        mu = self._linear_predictor(params, X_std)
        return _normal_logpdf(y, mu, self._sigma(params))

    def log_prior(self, params, X_std=None, y=None):
        lp = _normal_logpdf(params["intercept"], 0.0, self.intercept_prior_sd) + _normal_logpdf(
            params["coef"], 0.0, self.coef_prior_sd
        ).sum(axis=-1)
        if self.sigma is None:
            sigma = params["sigma"]
            half = np.log(2.0) + _normal_logpdf(sigma, 0.0, self.sigma_prior_sd)
            lp = lp + np.where(sigma >= 0, half, -np.inf)
        return lp

    def mean_function(self, params, X_std):
        return self._linear_predictor(params, X_std)


def _check_positive(spec, *names):
    for name in names:
        value = getattr(spec, name)
        if not (isinstance(value, int | float | np.number) and np.isfinite(value) and value > 0):
            raise ValueError(f"The {name!r} parameter must be a positive number. Got {value!r}.")


#: The built-in models (their files need no code beyond this package).
BUILT_IN_MODELS = (LogisticRegression, PolynomialRegression)
#: The built-in models by the ``kind`` a file names.
KINDS: dict[str, type[BayesianModel]] = {cls.kind: cls for cls in BUILT_IN_MODELS}



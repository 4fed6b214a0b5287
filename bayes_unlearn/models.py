"""Model specifications: each builds a PyMC model and evaluates its likelihood in NumPy.

A spec holds only the user's choices (priors, degree, ...). Feature standardization is
learned at fit time and stored with the posterior as a :class:`Standardizer`, so that a
refit on the remaining rows and every prediction use the same parameterization.

The NumPy likelihoods are vectorized over draws and rows; they are what makes reweighting
cheap, and the test suite checks them against :func:`pymc.compute_log_likelihood`.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from scipy import special

from bayes_unlearn import _backend
from bayes_unlearn._design import feature_scaling, polynomial_design
from bayes_unlearn._rowwise import CHUNK_VALUES

__all__ = [
    "BUILT_IN_MODELS",
    "BayesianModel",
    "LogisticRegression",
    "PolynomialRegression",
    "PyMCModel",
    "Standardizer",
    "UntrustedCodeError",
    "model_from_dict",
]

Params = dict[str, np.ndarray]
"""Posterior draws by variable name; the first axis of every array is the draw."""


@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Affine feature scaling ``(X - mean) / scale`` learned on the training data.

    The constants are aggregate statistics of the rows the model was first fitted on. They
    are kept fixed through every forget request (the parameters keep their meaning), which
    means the mean and scale still carry an aggregate trace of forgotten rows; use
    ``standardize=False`` with pre-scaled features where that matters.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, X: np.ndarray, enabled: bool = True) -> Standardizer:
        """Learn the scaling from ``X`` (identity when ``enabled`` is False)."""
        p = X.shape[1]
        if not enabled:
            return cls(mean=(0.0,) * p, scale=(1.0,) * p)
        mean, scale = feature_scaling(X)
        return cls(mean=tuple(mean.tolist()), scale=tuple(scale.tolist()))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Apply the stored scaling."""
        return (X - np.asarray(self.mean)) / np.asarray(self.scale)

    @property
    def is_identity(self) -> bool:
        """Whether the scaling leaves features unchanged (``standardize=False``)."""
        return all(m == 0.0 for m in self.mean) and all(s == 1.0 for s in self.scale)


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
        """The same draws expressed for features scaled by ``new`` instead of ``old``.

        The linear predictor ``α + Σ_j Σ_k β_jk z_j^k`` with ``z = (x - m)/s`` is rewritten
        exactly in ``z' = (x - m')/s'``: ``z = a + c z'`` with ``a = (m' - m)/s`` and
        ``c = s'/s``, so each power expands binomially and the map from ``(α, β)`` to
        ``(α', β')`` is affine (its Jacobian is a constant, which cancels in normalized
        importance weights). Every other variable is unchanged. This is what lets a forget
        request drop the forgotten rows' contribution to the feature scaling: the unlearned
        posterior is expressed in the scaling a refit on the remaining rows would learn.
        """
        if old == new:
            return params
        degree = self.polynomial_degree
        if degree is None:
            raise NotImplementedError(
                f"{type(self).__name__} cannot move its draws to a new feature scaling; "
                "fit it with standardize=False."
            )
        m0, s0 = np.asarray(old.mean), np.asarray(old.scale)
        a, c = (np.asarray(new.mean) - m0) / s0, np.asarray(new.scale) / s0
        n_draws, p = params["coef"].shape[0], m0.size
        beta = params["coef"].reshape(n_draws, degree, p)  # term (k-1)*p + j is feature j, power k
        new_beta = np.zeros_like(beta)
        intercept = np.array(params["intercept"], dtype=np.float64, copy=True)
        for k in range(1, degree + 1):
            for j in range(k + 1):  # (a + c z')^k = Σ_j C(k, j) a^(k-j) c^j z'^j
                term = beta[:, k - 1, :] * (special.comb(k, j) * a ** (k - j) * c**j)
                if j == 0:
                    intercept += term.sum(axis=1)
                else:
                    new_beta[:, j - 1, :] += term
        return {**params, "intercept": intercept, "coef": new_beta.reshape(n_draws, degree * p)}

    # --- serialization ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data, stored in the posterior file.

        A subclass outside this package is stored with its import path, so that
        :func:`bayes_unlearn.load` can rebuild it (the class must be importable then).
        """
        data = {"kind": self.kind, **dataclasses.asdict(self)}  # type: ignore[call-overload]
        if type(self) not in _KINDS.values():
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
            X_data = pm.Data("X", self.design(X_std))
            intercept = pm.Normal("intercept", 0.0, self.intercept_prior_sd)
            coef = pm.Normal("coef", 0.0, self.coef_prior_sd, dims="term")
            pm.Bernoulli("y", logit_p=intercept + X_data @ coef, observed=y)
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
            X_data = pm.Data("X", self.design(X_std))
            intercept = pm.Normal("intercept", 0.0, self.intercept_prior_sd)
            coef = pm.Normal("coef", 0.0, self.coef_prior_sd, dims="term")
            sigma = (
                pm.HalfNormal("sigma", self.sigma_prior_sd) if self.sigma is None else self.sigma
            )
            pm.Normal("y", mu=intercept + X_data @ coef, sigma=sigma, observed=y)
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


#: Compiled models of a PyMCModel by the data they were built on (see PyMCModel._compiled).
_COMPILED_BY_DATA: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_COMPILED_KEPT = 2


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
    method (reweighting, moment matching, SMC, refit). Wrap row-indexed arrays in
    ``pm.Data`` (with the observed variable's dims where it has them): rows are then inputs
    and any subset is evaluated without recompiling. A builder that bakes row arrays into
    the graph still works, through PyMC's slower per-draw :func:`pymc.compute_log_likelihood`.
    Discrete free variables and ``pm.Potential`` terms are refused.

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
    Features are passed to ``builder`` as given (no standardization). The function itself is
    not saved in the posterior file: pass ``model=`` to :func:`bayes_unlearn.load` to refit.

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
        the builder on one row fewer (:meth:`CompiledModel.confirm_rows`). The two used last
        are kept by data (building the model and its graphs takes 0.1-0.3 s; a new
        posterior's log-likelihood and log-prior ask for the same data in turn, and every
        request on a posterior for the posterior's own), refusals too.

        Raises
        ------
        RowsNotInputsError
            With the reason, where row-length constants do not follow the rows or the free
            variables' shapes depend on them.
        """
        from bayes_unlearn.compiled import CompiledModel, RowsNotInputsError

        cache = _COMPILED_BY_DATA.setdefault(self, {})
        key = _data_digest(X_std, y)
        if key in cache:
            cache[key] = cache.pop(key)  # now the most recently used
        else:
            while len(cache) >= _COMPILED_KEPT:
                cache.pop(next(iter(cache)))  # the least recently used
            try:
                built = CompiledModel(self.build(X_std, y, term_names=()), observed=self.observed)
                if built.lifted:
                    built.confirm_rows(self.build(X_std[:-1], y[:-1], term_names=()))
            except RowsNotInputsError as err:
                built = err
            cache[key] = built
        if isinstance(cache[key], Exception):
            raise type(cache[key])(*cache[key].args)  # a fresh traceback each time
        return cache[key]

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


def _check_positive(spec, *names):
    for name in names:
        value = getattr(spec, name)
        if not (isinstance(value, int | float | np.number) and np.isfinite(value) and value > 0):
            raise ValueError(f"The {name!r} parameter must be a positive number. Got {value!r}.")


def import_path(obj) -> str | None:
    """``"module:qualname"`` when ``obj`` can be imported back by that path, else None.

    Functions defined in ``__main__``, inside other functions or as lambdas have no such
    path: a file can then only name them, and loading asks for them again.
    """
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if resolve_import_path(path) is obj else None
    except (ImportError, AttributeError, ValueError):
        return None


def resolve_import_path(path: str):
    """The object named by ``"module:qualname"`` (importing the module)."""
    import importlib

    module, sep, qualname = path.partition(":")
    if not sep or not module or not qualname:
        raise ValueError(f"{path!r} is not an import path of the form 'package.module:name'.")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


#: The built-in models (their files need no code beyond this package).
BUILT_IN_MODELS = (LogisticRegression, PolynomialRegression)
_KINDS: dict[str, type[BayesianModel]] = {cls.kind: cls for cls in BUILT_IN_MODELS}


class UntrustedCodeError(ValueError):
    """A file names code to import that the caller has not trusted."""


def model_from_dict(
    data: dict[str, Any],
    model: BayesianModel | None = None,
    *,
    trusted: Callable[[str], bool] = lambda path: False,
) -> BayesianModel:
    """Rebuild a spec stored by :meth:`BayesianModel.to_dict`.

    A custom model's builder, its mean function and a user's subclass are named in the
    file by ``"module:qualname"``. They are imported only where ``trusted(path)`` is true
    (the caller listed the path, or the file's signature verified under the caller's key):
    importing a module runs its code, and anyone can edit a file and recompute its plain
    checksum. An untrusted path raises :class:`UntrustedCodeError`, unless ``model``
    supplies the code instead. Built-in models name no code.
    """
    data = dict(data)
    kind = data.pop("kind", None)
    if data.get("class"):  # a user's subclass (its kind may repeat a built-in's)
        return _subclass_from_dict(data, model, trusted)
    data.pop("class", None)
    if kind == "custom":
        if model is not None:
            if not isinstance(model, PyMCModel):
                raise TypeError(
                    f"The 'model' parameter must be a PyMCModel for this file. Got {type(model).__name__}."
                )
            return model
        paths = {
            name: data.get(f"{name}_path")
            for name in ("builder", "mean_fn")
            if data.get(f"{name}_path")
        }
        _check_trusted(list(paths.values()), trusted)
        code = {name: _try_import(path) for name, path in paths.items()}
        return PyMCModel(
            builder=code.get("builder"),
            builder_path=paths.get("builder"),
            mean_fn=code.get("mean_fn"),
            observed=data.get("observed", "y"),
            binary=bool(data.get("binary", False)),
        )
    if kind not in _KINDS:
        raise ValueError(
            f"Unknown model kind {kind!r} in posterior file; expected one of {sorted(_KINDS)}."
        )
    if model is not None:
        raise ValueError("The 'model' parameter is only for posteriors of custom PyMC models.")
    return _KINDS[kind](**data)


def _check_trusted(paths: list[str], trusted: Callable[[str], bool]) -> None:
    untrusted = [p for p in paths if not trusted(p)]
    if untrusted:
        listed = ", ".join(map(repr, untrusted))
        raise UntrustedCodeError(
            f"The file names code to import ({listed}), which you have not trusted: "
            f"pass bu.load(path, trusted=[{listed}]) (CLI: --trust "
            f"{' --trust '.join(untrusted)}), load a file signed with your key, or pass the "
            "model itself: bu.load(path, model=...)."
        )


def _subclass_from_dict(
    data: dict[str, Any], model: BayesianModel | None, trusted: Callable[[str], bool]
) -> BayesianModel:
    """A user's :class:`BayesianModel` subclass, imported by its stored path."""
    path = data.pop("class")
    if model is not None:
        return model
    if not isinstance(path, str):
        raise ValueError(f"This posterior's model class {path!r} is not an import path.")
    _check_trusted([path], trusted)
    try:
        cls = resolve_import_path(path)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"This posterior's model class {path!r} could not be imported ({err}); make it "
            "importable or pass it: bu.load(path, model=MyModel(...))."
        ) from err
    if not (isinstance(cls, type) and issubclass(cls, BayesianModel)):
        raise ValueError(f"{path!r} is not a BayesianModel subclass.")
    return cls(**data)


def _try_import(path: str):
    try:
        return resolve_import_path(path)
    except (ImportError, AttributeError, ValueError):
        return None

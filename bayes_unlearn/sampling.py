"""NUTS with PyMC for a fit or a refit, and the diagnostics of its draws.

Nothing here needs the :class:`~bayes_unlearn.posterior.Posterior` class: a refit returns a
copy of the posterior it was given (``dataclasses.replace``), so the methods and the refresh
can refit without importing the class that calls them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_unlearn import _backend, registry
from bayes_unlearn._progress import wants_progress
from bayes_unlearn._random import RandomSeed, seed_to_int
from bayes_unlearn.diagnostics import MIN_BULK_ESS, RHAT_MAX, UnlearningDiagnostics
from bayes_unlearn.layout import assemble_idata
from bayes_unlearn.models import BayesianModel
from bayes_unlearn.options import cores_limit
from bayes_unlearn.scaling import Standardizer

if TYPE_CHECKING:  # pragma: no cover
    from bayes_unlearn.posterior import Posterior

__all__ = [
    "NUTS_SAMPLERS",
    "check_nuts_sampler",
    "convergence",
    "free_variables",
    "mcmc_diagnostics",
    "resample_like",
    "run_nuts",
]

_log = logging.getLogger(__name__)


#: The NUTS samplers bayes-unlearn runs, and the package each needs: PyMC's own, nutpie's
#: and NumPyro's through ``pm.sample``; BlackJAX's through :mod:`bayes_unlearn._blackjax`
#: (PyMC 5.28's BlackJAX path does not run with BlackJAX 1.7).
NUTS_SAMPLERS = {"pymc": None, "nutpie": "nutpie", "numpyro": "numpyro", "blackjax": "blackjax"}


def check_nuts_sampler(name) -> str:
    """``name`` if it can run here; else ``ValueError`` naming the fix."""
    if name not in NUTS_SAMPLERS:
        raise ValueError(
            f"The 'nuts_sampler' parameter must be one of {list(NUTS_SAMPLERS)}. Got {name!r}."
        )
    package = NUTS_SAMPLERS[name]
    if package is not None and importlib.util.find_spec(package) is None:
        raise ValueError(
            f"nuts_sampler={name!r} needs the {package!r} package: "
            'pip install "bayes-unlearn[samplers]".'
        )
    return name


def run_nuts(
    model: BayesianModel,
    X: np.ndarray,
    y: np.ndarray,
    *,
    row_ids: np.ndarray,
    standardizer: Standardizer,
    feature_names: tuple[str, ...],
    sampler: dict[str, Any],
    random_seed: int,
    progressbar: bool | None = None,
    method: str = registry.FIT,
    reason: str = "initial fit",
    n_forget: int = 0,
    order: tuple[str, ...] = (),
):
    """NUTS on raw ``(X, y)``: the assembled ``InferenceData`` and its diagnostics.

    ``order``: the variables' order in the result (a refit's: its posterior's).
    """
    pm = _backend.pymc()

    X_std = standardizer.transform(X)
    pm_model = model.build(X_std, y, term_names=model.term_names(feature_names))
    _log.info(
        "Sampling %s model on %d rows (%d chains x %d draws)",
        model.kind,
        len(y),
        sampler["chains"],
        sampler["draws"],
    )
    # Checked again: a file may name a sampler whose package is not installed here.
    nuts_sampler = check_nuts_sampler(sampler.get("nuts_sampler", "pymc"))
    if nuts_sampler == "blackjax":
        from bayes_unlearn._blackjax import sample_blackjax

        idata = sample_blackjax(
            pm_model,
            draws=sampler["draws"],
            tune=sampler["tune"],
            chains=sampler["chains"],
            target_accept=sampler["target_accept"],
            random_seed=random_seed,
        )
    else:
        with pm_model:
            idata = pm.sample(
                draws=sampler["draws"],
                tune=sampler["tune"],
                chains=sampler["chains"],
                cores=sampler["cores"],
                target_accept=sampler["target_accept"],
                random_seed=random_seed,
                progressbar=wants_progress(progressbar),
                compute_convergence_checks=False,
                nuts_sampler=nuts_sampler,
            )
    stats = idata.sample_stats if "sample_stats" in idata.groups() else None
    idata = assemble_idata(
        model,
        free_variables(pm_model, idata.posterior, order),
        stats,
        X,
        y,
        row_ids=row_ids,
        standardizer=standardizer,
        feature_names=feature_names,
    )
    return idata, mcmc_diagnostics(idata, method=method, reason=reason, n_forget=n_forget)


def resample_like(
    posterior: Posterior,
    X: np.ndarray,
    y: np.ndarray,
    row_ids: np.ndarray,
    *,
    random_seed: RandomSeed = None,
    progressbar: bool | None = None,
    standardizer: Standardizer | None = None,
    history: tuple = (),
    reason: str = registry.REFIT.name,
    n_forget: int = 0,
) -> Posterior:
    """NUTS on new raw data with a posterior's model, sampler settings and feature scaling.

    ``random_seed=None`` reuses the seed stored at fit time (the same sampler settings);
    ``standardizer=None`` keeps the posterior's feature scaling. The result is a refit
    (``draws_source="refit"``) carrying ``history``.
    """
    seed = posterior.sampler["random_seed"] if random_seed is None else seed_to_int(random_seed)
    scaling = posterior.standardizer if standardizer is None else standardizer
    idata, diagnostics = run_nuts(
        posterior.model,
        X,
        y,
        row_ids=row_ids,
        standardizer=scaling,
        feature_names=posterior.feature_names,
        # The fit's parallel chains, at most what this process may use now.
        sampler={**posterior.sampler, "cores": cores_limit(int(posterior.sampler["cores"]))},
        random_seed=seed,
        progressbar=progressbar,
        method=registry.REFIT.name,
        reason=reason,
        n_forget=n_forget,
        order=tuple(posterior.idata.posterior.data_vars),
    )
    return dataclasses.replace(
        posterior,
        idata=idata,
        standardizer=scaling,
        history=tuple(history),
        diagnostics=diagnostics,
        draws_source=registry.REFIT.name,
    )


def free_variables(pm_model, posterior, order: tuple[str, ...] = ()):
    """``posterior`` reduced to the model's free variables, in ``order`` where given.

    Deterministics go: one indexed by row (a per-row mean) would keep forgotten rows' values
    in every file written after a request, and none follows the draws when a method moves
    them. ``pm.compute_deterministics`` recomputes them from the stored draws. A refit keeps
    the fitted posterior's order (a model rebuilt from its graph may list them otherwise).
    """
    free = {rv.name for rv in pm_model.free_RVs}
    names = [name for name in (*order, *posterior.data_vars) if name in free]
    return posterior[list(dict.fromkeys(names))]


def convergence(idata, min_ess: float = MIN_BULK_ESS) -> dict[str, Any]:
    """The number of MCMC draws, their R-hat (worst), bulk ESS (lowest) and divergences, the
    ESS asked for (``min_ess``, at most half the draws) and what fell short (``problems``)."""
    import arviz as az

    post = idata.posterior
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    ess = float(az.ess(post).to_array().min()) if n_draws >= 4 else float("nan")
    r_hat = float(az.rhat(post).to_array().max()) if post.sizes["chain"] > 1 else float("nan")
    divergences = (
        int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    )
    wanted = min(min_ess, n_draws / 2)
    problems = []
    if r_hat > RHAT_MAX:
        problems.append(f"R-hat {r_hat:.3f} > {RHAT_MAX}")
    if not ess >= wanted:
        problems.append(f"bulk ESS {ess:.0f} is low")
    if divergences:
        problems.append(f"{divergences} divergent transitions")
    return dict(
        n_draws=n_draws,
        r_hat=r_hat,
        ess_bulk=ess,
        min_ess=wanted,
        divergences=divergences,
        problems=problems,
    )


def mcmc_diagnostics(
    idata, *, method: str, reason: str, n_forget: int, min_ess: float = MIN_BULK_ESS
) -> UnlearningDiagnostics:
    """R-hat, bulk ESS and divergences of MCMC draws, with a verdict."""
    checks = convergence(idata, min_ess)
    problems = checks.pop("problems")
    verdict = (
        "MCMC converged: trustworthy."
        if not problems
        else "MCMC did not converge cleanly ("
        + "; ".join(problems)
        + "): run more tuning/draws or raise target_accept."
    )
    return UnlearningDiagnostics(
        method=method,
        reason=reason,
        n_forget=n_forget,
        n_remaining=idata.observed_data.sizes["obs_id"],
        reliable=not problems,
        verdict=verdict,
        **checks,
    )

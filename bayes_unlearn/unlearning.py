"""The one façade for forgetting training rows: :func:`unlearn` validates and dispatches.

The methods live in :mod:`bayes_unlearn.methods`, one module each.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import warnings

from bayes_unlearn import registry
from bayes_unlearn._forget import record_request
from bayes_unlearn._random import RandomSeed
from bayes_unlearn._validation import check_forget
from bayes_unlearn.diagnostics import MCMCConvergenceWarning, UnreliableUnlearningWarning
from bayes_unlearn.integrity import Key
from bayes_unlearn.posterior import Posterior

__all__ = ["unlearn"]


def unlearn(
    posterior,
    forget,
    *,
    method: str = registry.AUTO.name,
    random_seed: RandomSeed = None,
    key: Key | None = None,
    progressbar: bool | None = None,
    **options,
) -> Posterior:
    """Remove training rows from a posterior, as if the model had never seen them.

    Parameters
    ----------
    posterior : Posterior or NumPy model
        From :func:`bayes_unlearn.fit`, :func:`bayes_unlearn.load` or an earlier ``unlearn``;
        or a fitted :class:`~bayes_unlearn.numpy_models.PolynomialRegressor` (methods "emse",
        "retrain") or :class:`~bayes_unlearn.numpy_models.MLPClassifier` (methods in
        ``bayes_unlearn.numpy_models.neural.METHODS``), which keep their training rows.
    forget : array-like of int
        Training row ids to forget (see :meth:`Posterior.find_rows` to name rows by content).
    method : str, default "auto"
        A name in :data:`bayes_unlearn.registry.METHODS`.
        ``"auto"``: the cheapest of reweighting, moment matching, SMC and a refit whose own
        diagnostics pass, in that order. ``"reweight"``: importance-reweight the stored draws
        by ``1 / p(D_e | θ)`` (Nguyen et al. 2022), Pareto-smoothed (milliseconds).
        ``"moment_match"``: move the stored draws by affine maps towards the new posterior,
        then reweight (Paananen et al. 2021; :func:`bayes_unlearn.methods.moment_match.moment_match`).
        ``"smc"``: move the stored draws to the new posterior by tempered SMC
        (:func:`bayes_unlearn.methods.smc.smc`). ``"refit"``: exact MCMC on the remaining rows with
        the stored model and sampler settings (the reference).
    random_seed : int, Generator or None
        Seed of SMC or a refit; for a refit None reuses the seed stored at fit time.
    key : bytes or str, optional
        A secret (≥ 16 bytes) kept outside the file. With it the request's history names
        the rows by keyed fingerprint too, so :meth:`Posterior.find_rows` can later say that
        a row was already forgotten; without it only their ids are kept. Refused for a
        NumPy model, which keeps no history.
    progressbar : bool, optional
        Progress bars (PyMC's while sampling, ours for long sweeps); default the
        ``progressbar`` option (:func:`bayes_unlearn.set_options`), shown only in a terminal
        or Jupyter.
    **options
        Method options; an option the method does not take is an error. reweight:
        ``pareto_smoothing`` (bool, default True), ``reff`` (relative MCMC efficiency for
        PSIS; default as ``az.loo`` computes it), ``min_ess`` (default 100),
        ``min_relative_ess`` (default 0.75). moment_match: ``max_iterations``, ``covariance``,
        ``split``, ``reff``, ``min_ess``, ``min_relative_ess``. smc: see
        :func:`bayes_unlearn.methods.smc.smc`. auto: the reweight options, ``moment_match_options``
        and ``smc_options`` (dicts).

    Returns
    -------
    Posterior
        The unlearned posterior; ``.diagnostics`` says which method ran, why, and whether it
        can be trusted. Requests compose: forgetting A then B equals forgetting A ∪ B
        exactly in memory; a saved file holds a refreshed sample (:func:`bayes_unlearn.save`),
        so across a save they agree within Monte Carlo error.

    Warns
    -----
    UnreliableUnlearningWarning
        When the method's own diagnostics fail (for reweighting: Pareto k̂ above
        ``min(1 - 1/log10 S, 0.7)``, or fewer effective draws than ``min_relative_ess · S``).
    MCMCConvergenceWarning
        When the posterior being unlearned from did not converge (its fit's R-hat, ESS or
        divergence checks failed): the result inherits that.

    Raises
    ------
    ValueError
        For unknown, repeated or already forgotten row ids, an empty forget set, or one
        that removes every row; for an unknown method.

    Examples
    --------
    >>> un = bu.unlearn(post, forget=[3, 17, 42])              # doctest: +SKIP
    >>> un.diagnostics.reliable                                # doctest: +SKIP
    True
    """
    if not isinstance(posterior, Posterior):
        return _unlearn_point_model(posterior, forget, method, random_seed, key, options)
    entry = registry.get(method)
    rows = check_forget(
        forget,
        remaining=posterior.row_ids,
        history=[req["row_ids"] for req in posterior.history],
    )
    run = entry.function
    common = {"random_seed": random_seed, "progressbar": progressbar}
    _check_options(entry, options)
    accepted = inspect.signature(run).parameters
    result = run(posterior, rows, **{k: v for k, v in common.items() if k in accepted}, **options)
    if key is not None:
        last = result.history[-1]
        history = record_request(
            posterior, rows, last["method"], requested=last["requested"], key=key
        )
        result = dataclasses.replace(result, history=history)
    result = _inherit_fit_problem(posterior, result)
    if not result.diagnostics.reliable:
        warnings.warn(result.diagnostics.verdict, UnreliableUnlearningWarning, stacklevel=2)
    return result


def _check_options(entry: registry.Method, options: dict) -> None:
    """Refuse options the method does not take, with a suggestion, before any work."""
    known = list(entry.options)
    for name in options:
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            raise TypeError(
                f"unlearn(method={entry.name!r}) takes no option {name!r}; its options are "
                f"{known or 'none'}." + (f" Did you mean {hint[0]!r}?" if hint else "")
            )


def _unlearn_point_model(model, forget, method, random_seed, key, options):
    """A fitted NumPy model's request (imported here: scikit-learn costs a second to load,
    which a posterior's request should not pay)."""
    from bayes_unlearn.numpy_models.facade import is_point_model, unlearn_point_model

    if not is_point_model(model):
        raise TypeError(
            "The 'posterior' parameter of unlearn must be a Posterior or a fitted NumPy model "
            f"(bayes_unlearn.numpy_models). Got {type(model).__name__}."
        )
    if key is not None:
        raise TypeError(
            "The 'key' parameter of unlearn is for a Posterior's request history; a NumPy "
            f"model ({type(model).__name__}) keeps none. Leave 'key' out."
        )
    return unlearn_point_model(model, forget, method=method, random_seed=random_seed, **options)


_FIT_PROBLEM = "the MCMC fit these draws descend from did not converge"


def _inherit_fit_problem(posterior: Posterior, result: Posterior) -> Posterior:
    """Carry a failed fit's verdict into results that reuse its draws, and warn."""
    d = posterior.diagnostics
    if d is None or result.draws_source == registry.REFIT.name:
        return result
    nuts = d.method in (registry.FIT, registry.REFIT.name)
    failed_fit = (nuts and not d.reliable) or d.inherited_problem is not None
    if not failed_fit:
        return result
    warnings.warn(
        f"Unlearning from a posterior whose own checks failed: {_FIT_PROBLEM}. The result "
        "inherits that; refit with more tuning or draws.",
        MCMCConvergenceWarning,
        stacklevel=3,
    )
    r = result.diagnostics
    return dataclasses.replace(
        result,
        diagnostics=dataclasses.replace(
            r,
            reliable=False,
            verdict=f"Unreliable: {_FIT_PROBLEM}. {r.verdict}",
            inherited_problem=_FIT_PROBLEM,
        ),
    )

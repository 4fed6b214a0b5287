"""Cause identification: which training rows are responsible for a model's failures.

The scores are computed a block of training rows at a time (bounded memory whatever the
number of rows; on Dask with ``bu.set_options(dask=True)``); ``_rungs`` conditions the
posterior on the failures, ``_scores`` turns that into per-row scores and their Monte
Carlo error, ``_result`` holds the table.

References
----------
Tanno, R., Pradier, M. F., Nori, A. and Li, Y. (2022). Repairing neural networks by leaving
the right past behind. NeurIPS 2022.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from bayes_unlearn import registry
from bayes_unlearn._random import RandomSeed
from bayes_unlearn._validation import check_X_y
from bayes_unlearn.causes._label_noise import flip_probabilities
from bayes_unlearn.causes._result import (
    DEFAULT_SCORE,
    FLIPPED,
    SCORES,
    TRUSTED,
    Causes,
    check_score,
    score_table,
)
from bayes_unlearn.causes._rungs import MIN_ESS, RUNGS, Context, NotApplicable, auto
from bayes_unlearn.causes._scores import expected_under, score_rows
from bayes_unlearn.diagnostics import UnreliableScoresWarning
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.sampling import resample_like

__all__ = [
    "DEFAULT_SCORE",
    "FLIPPED",
    "MIN_ESS",
    "SCORES",
    "TRUSTED",
    "Causes",
    "check_score",
    "identify_causes",
]


def identify_causes(
    posterior: Posterior,
    X_fail,
    y_fail,
    *,
    method: str = registry.AUTO.name,
    score: str = DEFAULT_SCORE,
    top_k: int | None = None,
    threshold: float = 0.0,
    random_seed: RandomSeed = None,
    progressbar: bool | None = None,
) -> Causes:
    """Score every training row by its responsibility for the failure cases ``F``.

    ``r(z) = E_{p(θ|D)}[log p(z|θ)] − E_{p(θ|D,F)}[log p(z|θ)]`` (Tanno et al.): how much
    less likely a training row becomes once the model also learns the failures. Rows with
    large ``r(z)`` pull the model towards the failures; forget them to repair it
    (``bu.unlearn(posterior, forget=causes.row_ids)``, or :func:`repair`, which chooses how
    many to forget on trusted rows).

    Two other rankings come from the same two expectations: the row's **misfit** to the
    model that has learned ``F``, ``−E_{p(θ|D,F)}[log p(z|θ)]`` (``r(z)`` plus the row's
    surprise), and its **surprise** ``−E_{p(θ|D)}[log p(z|θ)]`` (no ``F``). On flipped labels
    the misfit finds the bad rows better than ``r(z)`` at 10-30% random flips and ``r(z)``
    is better at 50% and on a corrupted subgroup (``benchmarks/results/cause_ranking.md``).
    A fourth, ``score="trusted"``, is the row's misfit to the same model fitted on ``F``
    alone, ``−E_{p(θ|F)}[log p(z|θ)]``: nothing learned from the rows under suspicion. It
    needs ``F`` to be a trusted set (verified labels, all of its rows, as :func:`repair`
    uses), not only the failures, and costs one more MCMC fit, on ``F``. A fifth, for
    :class:`~bayes_unlearn.LogisticRegression`, ``score="flipped"``, is the row's posterior
    probability that its label was flipped, under a label-noise model fitted to ``D`` with
    ``F`` as rows whose labels are clean (a trusted set again): its flip rate is constant,
    follows the features, or follows them per true label, whichever PSIS-LOO prefers by two
    standard errors, and its clean logit carries each feature's square
    (``bayes_unlearn.causes._label_noise``). It costs three MCMC fits, on ``D ∪ F``.

    Parameters
    ----------
    posterior : Posterior
        The model that fails (weighted posteriors are handled).
    X_fail, y_fail : array-like
        The failure cases with their correct targets.
    method : str, default "auto"
        A name in :data:`bayes_unlearn.registry.METHODS`: how ``p(θ | D, F)`` is obtained,
        the forget ladder in the other direction.
        ``"reweight"``: the stored draws reweighted by ``p(F | θ)``, Pareto-smoothed
        (milliseconds). ``"moment_match"``: the draws moved towards ``p(θ | D, F)`` by
        affine maps, then reweighted. ``"smc"``: tempering ``p(F | θ)`` in. ``"refit"``:
        MCMC on ``D ∪ F`` with the stored model and sampler settings (exact, a refit's
        cost). ``"auto"``: the first of these whose own diagnostics pass, in that order;
        ``diagnostics.reason`` names each rung left and why.
    score : {"r", "misfit", "surprise", "trusted", "flipped"}, default "r"
        The ranking (the table's order): Tanno et al.'s ``r(z)``, the misfit to the model
        that has learned ``F``, the surprise (which ignores ``F``), the misfit to the
        model fitted on ``F`` alone (NUTS with the stored model, sampler settings and
        feature scaling; its own R-hat and ESS join the verdict), or the probability of a
        flipped label (PyMC's NUTS with the stored draws, tuning, chains and target_accept;
        the chosen fit's R-hat and ESS join the verdict; a richer flip rate whose fit did
        not converge is not chosen; the choice, each flip rate's ``elpd`` and the rates left
        out are in ``diagnostics.details["label_noise"]``). The
        first three are columns of the table whichever ranks (:meth:`Causes.ranked_by`);
        ``trusted`` and ``trusted_se``, or ``flipped`` and ``flipped_se``, are there when
        asked for.
    top_k : int, optional
        Mark the ``top_k`` highest-ranked rows as causes.
    threshold : float, default 0.0
        Without ``top_k``, as many rows are causes as have ``r(z) > threshold`` (Tanno et
        al.'s rule, with 0), taken in the ranking's order.
    random_seed : int, Generator or None
        Seed of the refit; None reuses the fit's seed.
    progressbar : bool, optional
        Progress bars of the refit and of long sweeps; default the ``progressbar`` option
        (:func:`bayes_unlearn.set_options`).

    Returns
    -------
    Causes
        ``.table`` (the scores, strongest first), ``.diagnostics`` and ``.row_ids`` (the
        rows marked as causes).

    Warns
    -----
    UnreliableScoresWarning
        When the scores that are returned failed their own diagnostics (an explicitly
        requested reweighting with k̂ or ESS out of bounds, or a refit that did not converge).

    See Also
    --------
    bayes_unlearn.repair : Score with a trusted validation set and choose how many of the top
        causes to forget on it.

    Notes
    -----
    To first order, ``r(z) > 0`` means that removing ``z`` would make ``F`` more likely, so the
    scores are only as informative as ``F``. Misclassified held-out rows are often cases no
    model of this family gets right; under random label noise the mislabeled rows make the
    model less confident, which *helps* on such cases, and they score ``r < 0``. A trusted
    validation set (verified labels, all of its rows) as ``F`` asks instead which rows make
    the model worse on trustworthy data; ``notebooks/pima_repair.ipynb`` measures both.

    For reweighting, ``se`` is the delta-method standard error of the difference of two
    self-normalized estimates from the same draws, inflated by each row's own MCMC
    autocorrelation; for a refit, the two posteriors are independent and their
    variances add. With fewer than about 1000 draws per chain the ESS estimates are
    optimistic and ``se`` runs about 1.3x too small (``benchmarks/results/cause_se.md``).
    """
    X_f, y_f = _check_arguments(posterior, X_fail, y_fail, method, score, top_k)
    start = time.perf_counter()
    ctx = Context(posterior, X_f, y_f, random_seed, progressbar)
    try:
        rung = auto if method == registry.AUTO.name else RUNGS[method]
        conditioned, diagnostics = rung(ctx)
    except NotApplicable as err:
        raise ValueError(f"identify_causes(method={method!r}) does not apply: {err}.") from err
    scores = score_rows(posterior, conditioned)
    extra = None
    if score == TRUSTED:
        (expected, se), diagnostics = _under_failures_alone(ctx, diagnostics)
        extra = (-expected, se)
    elif score == FLIPPED:
        extra, diagnostics = _flip_scores(ctx, diagnostics)
    diagnostics = dataclasses.replace(diagnostics, seconds=time.perf_counter() - start)
    if not diagnostics.reliable:
        warnings.warn(diagnostics.verdict, UnreliableScoresWarning, stacklevel=2)
    return Causes(
        table=score_table(posterior.row_ids, scores, score, top_k, threshold, extra),
        diagnostics=diagnostics,
        score=score,
    )


def _under_failures_alone(ctx: Context, diagnostics):
    """``E_{p(θ|F)}[log p(z|θ)]`` for every training row (and its se), from a fit on ``F``
    alone; the fit's convergence joins the verdict."""
    posterior = ctx.posterior
    try:
        alone = resample_like(
            posterior,
            ctx.X_f,
            ctx.y_f,
            np.arange(len(ctx.y_f)),
            random_seed=ctx.random_seed,
            progressbar=ctx.progressbar,
            reason="the trusted ranking's fit on F alone",
        )
    except ValueError as err:
        raise ValueError(
            f"identify_causes(score={TRUSTED!r}) fits the model on the failure set alone, "
            f"which this model could not be: {err}"
        ) from err
    fit = alone.diagnostics
    details = {**diagnostics.details, "fit_on_f": {"r_hat": fit.r_hat, "ess_bulk": fit.ess_bulk}}
    diagnostics = dataclasses.replace(diagnostics, details=details)
    if not fit.reliable:
        diagnostics = dataclasses.replace(
            diagnostics,
            reliable=False,
            verdict=f"{diagnostics.verdict} The fit on F alone did not converge ({fit.verdict}).",
        )
    return expected_under(alone, *posterior.training_data()), diagnostics


def _flip_scores(ctx: Context, diagnostics):
    """Each training row's posterior probability of a flipped label and its se, from
    label-noise models fitted with ``F`` as clean rows; their convergence joins the verdict."""
    posterior = ctx.posterior
    seed = posterior.sampler["random_seed"] if ctx.random_seed is None else ctx.random_seed
    probability, se, details = flip_probabilities(
        posterior, ctx.X_f, ctx.y_f, random_seed=seed, progressbar=ctx.progressbar
    )
    problems = details.pop("problems")
    diagnostics = dataclasses.replace(
        diagnostics, details={**diagnostics.details, "label_noise": details}
    )
    if problems:
        diagnostics = dataclasses.replace(
            diagnostics,
            reliable=False,
            verdict=f"{diagnostics.verdict} The label-noise fit ({details['flip_rate']} flip "
            f"rate) did not converge ({'; '.join(problems)}).",
        )
    return (probability, se), diagnostics


def _check_arguments(posterior, X_fail, y_fail, method, score, top_k):
    if not isinstance(posterior, Posterior):
        raise TypeError(
            f"The 'posterior' parameter must be a Posterior. Got {type(posterior).__name__}."
        )
    registry.get(method, caller="identify_causes")
    check_score(score, caller="identify_causes")
    if score == FLIPPED and posterior.model.kind != "logistic":
        raise ValueError(
            f"identify_causes(score={FLIPPED!r}) needs a bu.LogisticRegression posterior (its "
            f"label-noise model flips binary labels); this one is "
            f"{type(posterior.model).__name__}. Use score='trusted' or 'r'."
        )
    n_rows = posterior.row_ids.size
    if top_k is not None and not (isinstance(top_k, int | np.integer) and 1 <= top_k <= n_rows):
        raise ValueError(
            f"The 'top_k' parameter must be an integer in [1, {n_rows}]. Got {top_k!r}."
        )
    return check_X_y(
        X_fail,
        y_fail,
        binary=posterior.model.binary_target,
        n_features=len(posterior.feature_names),
        feature_names=posterior.feature_names,
        x_name="X_fail",
        y_name="y_fail",
    )

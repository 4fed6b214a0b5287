"""Repair a model with a trusted validation set: score the causes, choose how many to forget.

:func:`bayes_unlearn.identify_causes` ranks the training rows; forgetting every row with
``r(z) > 0`` (Tanno et al.'s rule) often removes many clean rows along with the bad ones.
:func:`repair` forgets the top ``K`` instead, with ``K`` chosen by the log predictive density
of the repaired model on the same trusted rows, so no test data is needed to choose it.
By default the smallest ``K`` within one standard error of the best is taken: forgetting
rows costs information, so it should be done only where the trusted rows show it helps.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from bayes_unlearn import registry
from bayes_unlearn._random import RandomSeed
from bayes_unlearn.causes import TRUSTED, Causes, check_score, identify_causes
from bayes_unlearn.diagnostics import UnreliableUnlearningWarning
from bayes_unlearn.posterior import Posterior

__all__ = ["DEFAULT_SCORE", "Repair", "repair"]

#: repair's ranking: its rows are a trusted set, so the model can be fitted on them alone; that
#: ranking finds flipped labels far better than r(z) and repairs about as well
#: (``benchmarks/results/cause_repair.md``, the Pima notebook). :func:`identify_causes` keeps
#: r(z), since its ``F`` is often only a few failures.
DEFAULT_SCORE = TRUSTED


@dataclasses.dataclass(frozen=True)
class Repair:
    """What :func:`repair` chose and why.

    Attributes
    ----------
    posterior : Posterior
        The repaired posterior (the original one when forgetting nothing scored best).
    causes : ndarray of int
        The forgotten training row ids, strongest cause first (empty when none).
    scores : Causes
        The :func:`~bayes_unlearn.identify_causes` result the causes were taken from.
    candidates : DataFrame
        One row per candidate ``K``: ``lpd`` (log predictive density of the trusted rows
        after forgetting the top ``K``), ``dse`` (standard error of its difference from the
        highest lpd), ``reliable`` (the unlearning's own verdict; unreliable candidates are
        not chosen), ``method`` (what ran) and ``chosen``.
    """

    posterior: Posterior
    causes: np.ndarray
    scores: Causes
    candidates: pd.DataFrame

    @property
    def n_causes(self) -> int:
        """Number of forgotten rows."""
        return int(self.causes.size)


def repair(
    posterior: Posterior,
    X_val,
    y_val,
    *,
    fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    rule: Literal["one_se", "best"] = "one_se",
    cause_method: str = registry.AUTO.name,
    score: str = DEFAULT_SCORE,
    method: str = registry.AUTO.name,
    allow_unreliable: bool = False,
    random_seed: RandomSeed = None,
    progressbar: bool | None = None,
) -> Repair:
    """Find the training rows that make the model worse on trusted data, and forget them.

    Scores every training row with the trusted rows as the failure set
    (:func:`~bayes_unlearn.identify_causes`, ranked by ``score``), then tries forgetting the
    top ``K = round(f · #{r > 0})`` rows for each ``f`` in ``fractions`` and compares the
    candidates, ``K = 0`` (no change) included, by the log predictive density (lpd) of the
    trusted rows.

    Parameters
    ----------
    posterior : Posterior
        The model to repair.
    X_val, y_val : array-like
        Trusted rows (verified labels) that the model should do well on: a validation set
        held out from training. All of them, not only the misclassified ones; see the Notes
        of :func:`~bayes_unlearn.identify_causes` for why.
    fractions : sequence of float, default (0.25, 0.5, 0.75, 1.0)
        Candidate sizes as fractions of the number of rows with ``r(z) > 0``; each in (0, 1].
    rule : {"one_se", "best"}, default "one_se"
        ``"best"``: the candidate with the highest lpd. ``"one_se"``: the smallest ``K`` whose
        lpd is within one standard error of the best (the standard error of the pointwise
        difference, as ``az.compare`` computes it), so rows are only forgotten when the
        trusted rows can tell that it helps.
    cause_method : str, default "auto"
        How :func:`~bayes_unlearn.identify_causes` obtains ``p(θ | D, F)``: a name in
        :data:`bayes_unlearn.registry.METHODS`.
    score : {"trusted", "r", "misfit", "surprise", "flipped"}, default "trusted"
        The ranking the top ``K`` are taken from (see :func:`~bayes_unlearn.identify_causes`).
        ``"trusted"``: each training label's misfit to the model fitted on the trusted rows
        alone (one more, small, MCMC fit); it ranks flipped labels far better than Tanno et
        al.'s ``r(z)``, and repair ends about as close to the clean model with either, within
        the 4-6-point spread over splits (``benchmarks/results/cause_repair.md``, the Pima
        notebook). ``"r"`` is the previous default. ``"flipped"`` (logistic models): each
        row's posterior probability of a flipped label under a label-noise model (three more
        MCMC fits, on the training and trusted rows).
    method : str, default "auto"
        How each candidate forgets its rows (:func:`~bayes_unlearn.unlearn`).
    allow_unreliable : bool, default False
        Rank on cause scores whose own diagnostics failed instead of refusing to.
    random_seed : int, Generator or None
        Seed of the refits and SMC runs; None reuses the fit's seed.
    progressbar : bool, optional
        Progress bars (PyMC's while sampling, ours for long sweeps); default the
        ``progressbar`` option (:func:`bayes_unlearn.set_options`), shown only in a terminal
        or Jupyter.

    Returns
    -------
    Repair
        The repaired posterior, the forgotten rows, the cause scores and the candidate table.

    Raises
    ------
    ValueError
        When the cause scores are unreliable and ``allow_unreliable`` is False: a ranking
        that its own diagnostics reject would choose which rows to delete.

    Warns
    -----
    UnreliableUnlearningWarning
        When some candidates' unlearning was unreliable; they are left out of the choice.

    Notes
    -----
    The trusted rows both score the causes and choose ``K``, so the chosen candidate's lpd is
    optimistic; judge the repaired model on rows used for neither. In
    ``notebooks/pima_repair.ipynb`` (20% flipped labels, 10 splits) the one-SE choice ends 1.2
    test accuracy points below the clean model (interval −3.0 to +0.5), the corrupted model
    1.0 below it: random flips cost little accuracy here, so there is little to repair.

    Examples
    --------
    >>> fixed = bu.repair(post, X_val, y_val, method="refit")   # doctest: +SKIP
    >>> fixed.candidates                                        # doctest: +SKIP
    """
    from bayes_unlearn.unlearning import unlearn

    fractions = _check_fractions(fractions)
    if rule not in ("one_se", "best"):
        raise ValueError(f"The 'rule' parameter must be 'one_se' or 'best'. Got {rule!r}.")
    registry.get(method, caller="repair")
    check_score(score, caller="repair")
    scores = identify_causes(
        posterior,
        X_val,
        y_val,
        method=cause_method,
        score=score,
        random_seed=random_seed,
        progressbar=progressbar,
    )
    if not scores.reliable and not allow_unreliable:
        raise ValueError(
            f"The cause scores are unreliable ({scores.diagnostics.verdict}) Use "
            "cause_method='auto' or 'refit', or pass allow_unreliable=True to rank on them."
        )
    ranked = scores.table.index.to_numpy()  # in the ranking's order
    n_pos = int((scores.table["r"] > 0).sum())
    # At least one row must remain, so K stops one short of the whole training set.
    sizes = sorted({min(round(f * n_pos), ranked.size - 1) for f in fractions} - {0})

    posteriors = {0: posterior}
    rows = [dict(K=0, reliable=True, method="none")]
    for k in sizes:
        with warnings.catch_warnings():  # recorded in the table instead
            warnings.simplefilter("ignore", UnreliableUnlearningWarning)
            posteriors[k] = unlearn(
                posterior,
                forget=ranked[:k],
                method=method,
                random_seed=random_seed,
                progressbar=progressbar,
            )
        diagnostics = posteriors[k].diagnostics
        rows.append(dict(K=k, reliable=bool(diagnostics.reliable), method=diagnostics.method))
    table = pd.DataFrame(rows).set_index("K")
    pointwise = {
        k: p.log_predictive_density(X_val, y_val, pointwise=True) for k, p in posteriors.items()
    }
    table.insert(0, "lpd", [pointwise[k].sum() for k in table.index])
    best = table.loc[table["reliable"], "lpd"].idxmax()
    diff = np.stack([pointwise[best] - pointwise[k] for k in table.index])
    table.insert(1, "dse", diff.std(axis=1, ddof=1) * np.sqrt(diff.shape[1]))
    if rule == "one_se":
        close = table["reliable"] & (table["lpd"] >= table.loc[best, "lpd"] - table["dse"])
        best = table.index[close].min()
    table["chosen"] = table.index == best
    if not table["reliable"].all():
        warnings.warn(
            f"Forgetting K = {list(table.index[~table['reliable']])} rows with method={method!r} "
            "was unreliable and not considered; use method='refit' to consider every K.",
            UnreliableUnlearningWarning,
            stacklevel=2,
        )
    return Repair(posterior=posteriors[best], causes=ranked[:best], scores=scores, candidates=table)


def _check_fractions(fractions) -> tuple[float, ...]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(0.0 < f <= 1.0 for f in values):
        raise ValueError(
            "The 'fractions' parameter must be a non-empty sequence of numbers in (0, 1], "
            f"e.g. (0.25, 0.5, 0.75, 1.0). Got {fractions!r}."
        )
    return values

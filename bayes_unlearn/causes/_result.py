"""The result of :func:`~bayes_unlearn.identify_causes`."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from bayes_unlearn.diagnostics import CauseDiagnostics

__all__ = [
    "DEFAULT_SCORE",
    "FLIPPED",
    "SCORES",
    "TRUSTED",
    "Causes",
    "check_score",
    "score_table",
]


#: The ranking that needs a fit on the failure set alone.
TRUSTED = "trusted"
#: The ranking by each row's posterior probability of a flipped label (logistic models).
FLIPPED = "flipped"
#: The rankings :func:`~bayes_unlearn.identify_causes` offers, each a column of the table:
#: ``misfit`` = −E_{p(θ|D,F)}[log p(z|θ)] = r(z) + surprise (how badly the row fits the model
#: that has also learned the failures); Tanno et al.'s ``r`` = E_{p(θ|D)}[log p(z|θ)] −
#: E_{p(θ|D,F)}[log p(z|θ)]; ``surprise`` = −E_{p(θ|D)}[log p(z|θ)] (no failure set);
#: ``trusted`` = −E_{p(θ|F)}[log p(z|θ)], the row's misfit to the model fitted on ``F`` alone
#: (computed only when asked for: it costs a fit on ``F``); ``flipped``, the row's posterior
#: probability of a flipped label under a label-noise model fitted with ``F`` as clean rows
#: (computed only when asked for: it costs three fits on ``D ∪ F``).
SCORES = ("misfit", "r", "surprise", TRUSTED, FLIPPED)
#: The rankings computed only when asked for, and what each costs.
_ON_REQUEST = {TRUSTED: "a fit on the failure set alone", FLIPPED: "label-noise fits"}
#: :func:`~bayes_unlearn.identify_causes`' default ranking (Tanno et al.'s).
DEFAULT_SCORE = "r"


def check_score(score, caller: str) -> None:
    """Refuse a ranking :data:`SCORES` does not name."""
    if score not in SCORES:
        raise ValueError(
            f"The 'score' parameter of {caller} must be one of {sorted(SCORES)}. Got {score!r}."
        )


@dataclasses.dataclass(frozen=True)
class Causes:
    """The result of :func:`identify_causes`: the per-row scores and how they were computed.

    Attributes
    ----------
    table : DataFrame
        Indexed by ``row_id``, sorted by the decreasing ranking score (:attr:`score`), with
        columns ``r`` (Tanno et al.'s score), ``se`` (its Monte Carlo standard error), ``z``
        (``r / se``), ``misfit`` (``−E_{p(θ|D,F)}[log p(z|θ)]``) and ``misfit_se``,
        ``surprise`` (``−E_{p(θ|D)}[log p(z|θ)]``; ``log_lik`` is its negative), ``rank`` (1 =
        strongest) and ``is_cause``; with ``score="trusted"`` also ``trusted``
        (``−E_{p(θ|F)}[log p(z|θ)]``, under a fit on ``F`` alone) and ``trusted_se``; with
        ``score="flipped"`` also ``flipped`` (the posterior probability of a flipped label)
        and ``flipped_se``.
    diagnostics : CauseDiagnostics
        The method that ran, why, and whether its diagnostics passed.
    score : str
        The ranking: one of :data:`SCORES` (:meth:`ranked_by` gives another).
    """

    table: pd.DataFrame
    diagnostics: CauseDiagnostics
    score: str = DEFAULT_SCORE

    def ranked_by(self, score: str) -> Causes:
        """The same scores ranked by another of :data:`SCORES`: as many causes, in its order."""
        check_score(score, caller="Causes.ranked_by")
        if score not in self.table:
            raise ValueError(
                f"These scores have no {score!r} column: it needs {_ON_REQUEST[score]}. "
                f"Call identify_causes(..., score={score!r}) instead."
            )
        n_causes = int(self.table["is_cause"].sum())
        table = _ranked(self.table.drop(columns=["rank", "is_cause"]), score, n_causes)
        return dataclasses.replace(self, table=table, score=score)

    @property
    def row_ids(self) -> np.ndarray:
        """Training row ids marked as causes, strongest first."""
        return self.table.index[self.table["is_cause"]].to_numpy()

    @property
    def reliable(self) -> bool:
        """Whether the scores' own diagnostics passed."""
        return self.diagnostics.reliable

    def __repr__(self) -> str:
        d = self.diagnostics
        return (
            f"Causes({self.row_ids.size} of {d.n_rows} rows, score={self.score!r}, "
            f"method={d.method!r}, reliable={d.reliable})\n{self.table.head(10).round(4).to_string()}"
        )

    def _repr_html_(self) -> str:
        d = self.diagnostics
        return (
            f"<p>{self.row_ids.size} causes of {d.n_failures} failures among {d.n_rows} rows, "
            f"ranked by {self.score}; method {d.method}; {d.verdict}</p>"
            + self.table.head(20).to_html()
        )

    # Until 0.2, a Causes also behaves as the DataFrame identify_causes used to return.
    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("table", "diagnostics", "score"):
            raise AttributeError(name)
        _warn_dataframe_use(name)
        if name == "attrs":
            return _legacy_attrs(self.diagnostics)
        return getattr(self.table, name)

    def __getitem__(self, key):
        _warn_dataframe_use("[...]")
        return self.table[key]

    def __len__(self) -> int:
        return len(self.table)


def _warn_dataframe_use(what: str) -> None:
    warnings.warn(
        f"identify_causes() returns a Causes result; using it as a DataFrame ({what}) is "
        "deprecated and stops working in 0.2: use result.table, result.diagnostics or "
        "result.row_ids.",
        FutureWarning,
        stacklevel=3,
    )


def _legacy_attrs(d: CauseDiagnostics) -> dict:
    attrs = {"method": d.method, "n_failures": d.n_failures, "reliable": d.reliable}
    if d.pareto_k is not None:
        attrs |= {"pareto_k": d.pareto_k, "pareto_k_threshold": d.pareto_k_threshold}
        attrs["ess"] = d.ess_importance
    return attrs


def score_table(row_ids, scores, score, top_k, threshold, extra=None) -> pd.DataFrame:
    """The scores, strongest ``score`` first, with the causes marked.

    ``scores``: ``before``, ``after``, the se of ``before − after`` and of ``after``;
    ``extra``, optional: the column of a ranking computed on request (``score``:
    ``trusted`` or ``flipped``) and its se. Without ``top_k``, as many rows are causes as have
    ``r > threshold`` (Tanno et al.'s rule), taken in the order of ``score``.
    """
    before, after, se, se_after = scores
    r = before - after
    table = pd.DataFrame(
        {
            "r": r,
            "se": se,
            "z": r / np.where(se > 0, se, np.nan),
            "misfit": -after,
            "misfit_se": se_after,
            "surprise": -before,
            "log_lik": before,
        },
        index=pd.Index(row_ids, name="row_id"),
    )
    if extra is not None:
        table[score], table[f"{score}_se"] = extra
    return _ranked(table, score, top_k if top_k is not None else int((r > threshold).sum()))


def _ranked(table: pd.DataFrame, score: str, n_causes: int) -> pd.DataFrame:
    table = table.sort_values(score, ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    table["is_cause"] = table["rank"] <= n_causes
    return table

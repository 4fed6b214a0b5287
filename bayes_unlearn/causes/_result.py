"""The result of :func:`~bayes_unlearn.identify_causes`."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from bayes_unlearn.diagnostics import CauseDiagnostics

__all__ = ["Causes", "score_table"]


@dataclasses.dataclass(frozen=True)
class Causes:
    """The result of :func:`identify_causes`: the per-row scores and how they were computed.

    Attributes
    ----------
    table : DataFrame
        Indexed by ``row_id``, sorted by decreasing ``r``, with columns ``r``, ``se`` (Monte
        Carlo standard error), ``z`` (``r / se``), ``log_lik`` (``E_{p(θ|D)}[log p(z|θ)]``,
        low for rows the model finds surprising), ``rank`` (1 = strongest) and ``is_cause``.
    diagnostics : CauseDiagnostics
        The method that ran, why, and whether its diagnostics passed.
    """

    table: pd.DataFrame
    diagnostics: CauseDiagnostics

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
            f"Causes({self.row_ids.size} of {d.n_rows} rows, method={d.method!r}, "
            f"reliable={d.reliable})\n{self.table.head(10).round(4).to_string()}"
        )

    def _repr_html_(self) -> str:
        d = self.diagnostics
        return (
            f"<p>{self.row_ids.size} causes of {d.n_failures} failures among {d.n_rows} rows; "
            f"method {d.method}; {d.verdict}</p>" + self.table.head(20).to_html()
        )

    # Until 0.2, a Causes also behaves as the DataFrame identify_causes used to return.
    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("table", "diagnostics"):
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


def score_table(row_ids, before, after, se, top_k, threshold) -> pd.DataFrame:
    """The scores, strongest first, with the causes marked."""
    r = before - after
    table = pd.DataFrame(
        {"r": r, "se": se, "z": r / np.where(se > 0, se, np.nan), "log_lik": before},
        index=pd.Index(row_ids, name="row_id"),
    )
    table = table.sort_values("r", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    table["is_cause"] = (table["rank"] <= top_k) if top_k is not None else (table["r"] > threshold)
    return table

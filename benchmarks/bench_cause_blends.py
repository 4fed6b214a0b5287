"""Fixed blends of the trusted-only misfit and its gap to the surprise, for issue #27.

The survey of candidates (``bench_cause_candidates``) left two rankings that each fail where
the other wins: the trusted-only misfit ``TO(z) = −E_{p(θ|F)}[log p(z|θ)]`` misses the
corrupted subgroups, and its gap to the surprise ``G(z) = TO(z) − S(z)``, with
``S(z) = −E_{p(θ|D)}[log p(z|θ)]`` (r(z) with the trusted-only fit in place of
``p(θ|D,F)``), finds the subgroups but not sparse random flips. Both are on the scale of a
log-likelihood, so a blend needs no ranks:

- **TO + β G** for ``β`` in ``BETAS``: ``β = 0`` is the trusted-only misfit; as ``β`` grows
  the blend ranks as ``G`` alone (the last column). The idea measured: where the fitting
  rows' model is barely bent (sparse random flips) ``S ≈ TO`` row by row and the gap would
  add little, while where the corruption has taught the model a wrong label (a subgroup)
  ``S`` is small on exactly those rows and the gap lifts them. (It adds noise in the first
  case: the table.)
- **TO + r**: the trusted-only misfit plus r(z) itself, whose size grows with how far the
  trusted rows move the fit.

The question is whether one fixed weight serves both kinds of corruption. Same splits,
corruptions, data sets, chains and criterion as ``bench_cause_candidates`` (a survey: a ✓ is
a lead, not the target met).

Run: ``python -m benchmarks.bench_cause_blends`` (``BENCH_SPLITS``, default 5; ``--render``
rebuilds the page from the JSON).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmarks.bench_cause_candidates import SAMPLER
from benchmarks.bench_cause_ranking import corrupted_fits, interval, survey_main, trusted_misfit
from benchmarks.bench_causes import summarize

SPLITS = int(os.environ.get("BENCH_SPLITS", 5))
BETAS = (0.5, 1.0, 2.0)
CANDIDATES = ("r", "surprise", "TO", *(f"TO + {b:g} G" for b in BETAS), "G", "TO + r")


def run(name, X, y, kind, rate, seed) -> dict:
    fits = corrupted_fits(name, X, y, kind, rate, seed, SAMPLER)
    post, trusted, flipped, y_bad = fits["post"], fits["trusted"], fits["flipped"], fits["y_bad"]
    table = fits["causes"].table.loc[post.row_ids]
    only = trusted_misfit(trusted, fits["X_fit"], y_bad)
    r, gap = table["r"].to_numpy(), only - table["surprise"].to_numpy()
    scores = {"r": r, "surprise": table["surprise"].to_numpy(), "TO": only, "G": gap}
    scores |= {f"TO + {b:g} G": only + b * gap for b in BETAS}
    scores["TO + r"] = only + r
    is_bad = np.isin(np.arange(len(y_bad)), flipped)
    return {
        **fits["setting"],
        **{c: float(roc_auc_score(is_bad, scores[c])) for c in CANDIDATES},
    }


def summary(table: pd.DataFrame, candidates=CANDIDATES) -> list[str]:
    """One row per setting; ✓ where a candidate after the first two (r(z) and the surprise)
    is within the better of those two."""
    met = dict.fromkeys(candidates[2:], 0)
    lines = [
        "| data | corruption | corrupted | "
        + " | ".join(candidates)
        + " | better of r, surprise |",
        "|---|---|---:|" + "---:|" * (len(candidates) + 1),
    ]
    groups = table.groupby(["data", "corruption", "level"], sort=False, dropna=False)
    for (name, kind, _), g in groups:
        better = "r" if g["r"].mean() >= g["surprise"].mean() else "surprise"
        _, low, _ = interval(g[better])
        cells = []
        for c in candidates:
            ok = c in met and g[c].mean() >= low
            if ok:
                met[c] += 1
            cells.append(summarize(g[c]) + (" ✓" if ok else ""))
        lines.append(
            f"| {name} | {kind} | {g['rate'].mean():.0%} | " + " | ".join(cells) + f" | {better} |"
        )
    lines += [
        "",
        f"Settings met, of {groups.ngroups}: "
        + "; ".join(f"{c} {n}" for c, n in met.items())
        + ".",
    ]
    return lines


def survey_page(payload: dict, title: str, doc: str, candidates=CANDIDATES) -> str:
    """A candidates survey's result page: ``title``, the first paragraphs of the script's
    docstring ``doc`` and the table of :func:`summary`."""
    info = payload["machine"]
    intro = [p if p.startswith("- ") else p.replace("\n", " ") for p in doc.split("\n\n")[:4]]
    return "\n".join(
        [
            f"# {title}",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}. Wall time "
            f"{payload['seconds']:.0f} s.",
            "",
            *[line for p in intro for line in (p, "")],
            f"{payload['splits']} splits each; NUTS {SAMPLER['chains']} x {SAMPLER['draws']} "
            "draws; r(z) and the surprise from `identify_causes` (method auto). ROC AUC for the "
            "corrupted rows, means with 95% t-intervals over splits; ✓: the candidate's mean "
            "is within the interval of the better of r(z) and the surprise, or above it.",
            "",
            *summary(pd.DataFrame(payload["runs"]), candidates),
        ]
    )


def render(payload: dict) -> str:
    """The result page from the measured payload."""
    title = "Cause rankings: fixed blends of the trusted-only misfit and its gap (survey)"
    return survey_page(payload, title, __doc__)


def main():
    survey_main("cause_blends", run, render, SPLITS)


if __name__ == "__main__":
    main()

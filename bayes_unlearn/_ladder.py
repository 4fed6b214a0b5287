"""The ladder both directions climb: forgetting rows (``unlearn(method="auto")``) and
conditioning on failures (``identify_causes(method="auto")``).

Rungs are tried cheapest first; the first whose own diagnostics pass is kept, and the reason
names every rung left and why (skipped: it does not apply here; unreliable: its k̂ and ESS,
or its verdict). The callers add the exact refit when no rung passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from bayes_unlearn.compiled import RowsNotInputsError

__all__ = ["Climb", "Rung", "Skip", "climb"]


class Skip(Exception):
    """A rung that does not apply to this posterior (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Rung:
    """One step of the ladder: its label, how to run it, and how its pass is told.

    ``quotes_weights``: a passing rung quotes its k̂ and ESS against their bars (plain
    importance weighting, whose numbers are the whole verdict); others say their
    diagnostics passed.
    """

    label: str
    run: Callable[[], Any]
    quotes_weights: bool = False


@dataclasses.dataclass(frozen=True)
class Climb:
    """The first reliable rung's result (None if none passed) and ``diagnostics.reason``."""

    result: Any | None
    reason: str


def climb(rungs: Sequence[Rung], diagnostics: Callable) -> Climb:
    """Run the rungs in order until one's ``diagnostics(result).reliable``."""
    why = []
    for rung in rungs:
        name = rung.label
        try:
            result = rung.run()
        except (Skip, RowsNotInputsError) as skip:
            why.append(f"{name} skipped: {skip}")
            continue
        d = diagnostics(result)
        if d.reliable:
            return Climb(result, "auto: " + "; ".join([*why, _passed(rung, d)]))
        short = (
            f"k̂ {d.pareto_k:.2f}, ESS {d.ess_importance:.0f} of {d.n_draws}"
            if d.pareto_k is not None
            else d.verdict
        )
        why.append(f"{name} unreliable ({short})")
    return Climb(None, "auto: " + "; ".join([*why, "exact refit"]))


def _passed(rung: Rung, d) -> str:
    if not rung.quotes_weights:
        return f"{rung.label} diagnostics passed"
    return (
        f"k̂ {d.pareto_k:.2f} ≤ {d.pareto_k_threshold:.2f} and ESS {d.ess_importance:.0f} ≥ "
        f"{d.min_ess:.0f} of {d.n_draws} draws"
    )

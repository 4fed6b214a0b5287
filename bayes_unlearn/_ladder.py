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

__all__ = ["Climb", "Skip", "climb"]


class Skip(Exception):
    """A rung that does not apply to this posterior (the message says why)."""


@dataclasses.dataclass(frozen=True)
class Climb:
    """The first reliable rung's result (None if none passed) and ``diagnostics.reason``."""

    result: Any | None
    reason: str


def climb(rungs: Sequence[tuple[str, Callable[[], Any]]], diagnostics: Callable) -> Climb:
    """Run ``(name, run)`` rungs in order until one's ``diagnostics(result).reliable``."""
    why = []
    for name, run in rungs:
        try:
            result = run()
        except Skip as skip:
            why.append(f"{name} skipped: {skip}")
            continue
        except RowsNotInputsError as err:
            why.append(f"{name} skipped: {err}")
            continue
        d = diagnostics(result)
        if d.reliable:
            return Climb(result, "auto: " + "; ".join([*why, _passed(name, d)]))
        short = (
            f"k̂ {d.pareto_k:.2f}, ESS {d.ess_importance:.0f} of {d.n_draws}"
            if d.pareto_k is not None
            else d.verdict
        )
        why.append(f"{name} unreliable ({short})")
    return Climb(None, "auto: " + "; ".join([*why, "exact refit"]))


def _passed(name: str, d) -> str:
    if name != "reweighting":
        return f"{name} diagnostics passed"
    return (
        f"k̂ {d.pareto_k:.2f} ≤ {d.pareto_k_threshold:.2f} and ESS {d.ess_importance:.0f} ≥ "
        f"{d.min_ess:.0f} of {d.n_draws} draws"
    )

"""The shared ladder: first reliable rung, and a reason naming each rung left and why."""

from __future__ import annotations

from types import SimpleNamespace

from bayes_unlearn._ladder import Rung, Skip, climb
from bayes_unlearn.compiled import RowsNotInputsError


def _diagnostics(reliable, pareto_k=None):
    return SimpleNamespace(
        reliable=reliable,
        pareto_k=pareto_k,
        pareto_k_threshold=0.7,
        ess_importance=120.0,
        min_ess=100.0,
        n_draws=4000,
        verdict="chains did not mix",
    )


def _raise(err):
    raise err


def test_the_first_reliable_rung_is_kept_and_each_rung_left_is_named():
    rungs = (
        Rung("reweighting", lambda: _diagnostics(False, pareto_k=0.91), quotes_weights=True),
        Rung("moment matching", lambda: _raise(Skip("the draws are already weighted"))),
        Rung("SMC", lambda: _raise(RowsNotInputsError("rows baked in"))),
        Rung("tempering", lambda: _diagnostics(False)),
        Rung("last", lambda: _diagnostics(True)),
        Rung("never run", lambda: _raise(AssertionError("a rung after the passing one ran"))),
    )
    found = climb(rungs, diagnostics=lambda d: d)
    assert found.result.reliable
    assert found.reason == (
        "auto: reweighting unreliable (k̂ 0.91, ESS 120 of 4000); moment matching skipped: "
        "the draws are already weighted; SMC skipped: rows baked in; tempering unreliable "
        "(chains did not mix); last diagnostics passed"
    )


def test_a_passing_reweighting_says_by_how_much_and_none_passing_ends_in_a_refit():
    found = climb(
        [Rung("reweighting", lambda: _diagnostics(True, 0.3), quotes_weights=True)],
        diagnostics=lambda d: d,
    )
    assert found.reason == "auto: k̂ 0.30 ≤ 0.70 and ESS 120 ≥ 100 of 4000 draws"
    none = climb([Rung("SMC", lambda: _diagnostics(False))], diagnostics=lambda d: d)
    assert none.result is None and none.reason.endswith("; exact refit")

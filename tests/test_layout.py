"""What of a posterior's diagnostics a saved file keeps (bayes_unlearn.layout)."""

from __future__ import annotations

from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.layout import saved_diagnostics


def _diagnostics(**fields) -> UnlearningDiagnostics:
    return UnlearningDiagnostics(
        method="refit",
        reason="requested",
        n_forget=1,
        n_remaining=9,
        n_draws=100,
        reliable=True,
        verdict="ok",
        **fields,
    )


def test_an_inherited_problem_is_saved_only_when_there_is_one():
    # Unset, the key is left out, so that readers older than the field still read the file.
    assert "inherited_problem" not in saved_diagnostics(_diagnostics())
    saved = saved_diagnostics(_diagnostics(inherited_problem="the fit did not converge"))
    assert saved["inherited_problem"] == "the fit did not converge"
    assert UnlearningDiagnostics.from_dict(saved).inherited_problem == saved["inherited_problem"]

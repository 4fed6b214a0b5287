"""Diagnostics thresholds."""

from __future__ import annotations

import pytest

import bayes_unlearn as bu


def test_pareto_k_threshold():
    assert bu.pareto_k_threshold(4000) == 0.7
    assert bu.pareto_k_threshold(100) == pytest.approx(0.5)


def test_a_file_written_before_inherited_problem_was_a_field_keeps_it():
    from bayes_unlearn.diagnostics import UnlearningDiagnostics

    old = {
        "method": "refresh",
        "reason": "resample-move",
        "n_forget": 1,
        "n_remaining": 9,
        "n_draws": 100,
        "reliable": False,
        "verdict": "Unreliable.",
        "details": {"refreshed": "reweight", "inherited_problem": "the fit did not converge"},
    }
    d = UnlearningDiagnostics.from_dict(old)
    assert d.inherited_problem == "the fit did not converge"
    assert d.details == {"refreshed": "reweight"}
    assert UnlearningDiagnostics.from_dict(d.to_dict()) == d

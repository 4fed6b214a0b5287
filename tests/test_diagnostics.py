"""Diagnostics thresholds."""

from __future__ import annotations

import pytest

import bayes_unlearn as bu


def test_pareto_k_threshold():
    assert bu.pareto_k_threshold(4000) == 0.7
    assert bu.pareto_k_threshold(100) == pytest.approx(0.5)

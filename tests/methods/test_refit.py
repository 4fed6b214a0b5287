"""The exact refit (methods/refit.py): the reference every other method is measured against."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from tests.conftest import closed_form_posterior


def test_refit_recovers_closed_form_and_records_history(linear_post, linear_data):
    X, y = linear_data
    forget = np.arange(0, 120, 2)  # half the data: where reweighting fails, refit is exact
    ref = bu.unlearn(linear_post, forget=forget, method="refit", random_seed=5)
    mean, cov = closed_form_posterior(X[1::2], y[1::2])
    sd = np.sqrt(np.diag(cov))
    d = ref.diagnostics
    assert d.method == "refit" and d.reliable and d.n_remaining == 60
    table = ref.summary()
    assert_allclose(table["mean"], mean, atol=4 * sd.max() / np.sqrt(d.ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * d.ess))
    assert not ref.is_weighted
    assert ref.history[-1]["method"] == "refit" and ref.history[-1]["row_ids"] == forget.tolist()
    # A later reweighting starts from the refit's draws.
    again = bu.unlearn(ref, forget=[1])
    assert again.diagnostics.reliable and len(again.history) == 2

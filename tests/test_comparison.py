"""compare: fidelity of an unlearned posterior to a reference."""

from __future__ import annotations

import dataclasses

import arviz as az
import numpy as np
import pytest

import bayes_unlearn as bu


def test_compare_identical_posteriors_is_zero(linear_post, linear_data):
    X, y = linear_data
    c = bu.compare(linear_post, linear_post, X_test=X, y_test=y)
    assert c.max_abs_smd == 0 and c.max_abs_log_sd_ratio == 0 and c.lpd_diff == 0
    with pytest.raises(ValueError, match="same model"):
        other = dataclasses.replace(
            linear_post, idata=az.from_dict(posterior={"z": np.zeros((1, 5))})
        )
        bu.compare(linear_post, other)
    with pytest.raises(ValueError, match="both"):
        bu.compare(linear_post, linear_post, X_test=X)

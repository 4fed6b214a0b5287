"""The radon example models (example_models.py): real hierarchical data, user-style builders."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn.compiled import CompiledModel
from bayes_unlearn.example_models import (
    N_COUNTIES,
    radon_above_action_level,
    radon_varying_slopes,
)
from bayes_unlearn.import_paths import import_path


@pytest.fixture(scope="module")
def radon():
    df = bu.datasets.load_radon()
    return df[["county", "floor"]].to_numpy(dtype=float), df


@pytest.mark.parametrize(
    ("builder", "target"),
    [
        (radon_varying_slopes, lambda df: df["log_radon"].to_numpy()),
        (radon_above_action_level, lambda df: (df["log_radon"] > np.log(4)).to_numpy(float)),
    ],
    ids=["varying slopes", "logistic"],
)
def test_the_models_compile_with_homes_as_inputs(radon, builder, target):
    X, df = radon
    y = target(df)
    model = builder(X, y)
    cm = CompiledModel(model)
    assert set(cm.row_data) == {CompiledModel.OBSERVED, "county_idx", "floor"}
    prior = pm.sample_prior_predictive(draws=50, model=model, random_seed=1).prior
    u = cm.unconstrain({name: prior[name].values[0] for name in cm.names})
    ll = cm.pointwise_log_likelihood(u)
    assert ll.shape == (50, len(y)) and np.isfinite(ll).all()
    # One county's homes, built by the same builder on those rows alone: same values.
    rows = np.flatnonzero(df["county"] == 3)
    alone = cm.rows_of(builder(X[rows], y[rows]))
    assert_allclose(cm.pointwise_log_likelihood(u, alone), ll[:, rows], atol=1e-12)
    assert model.coords["county"] == tuple(range(N_COUNTIES))
    assert import_path(builder) == f"bayes_unlearn.example_models:{builder.__name__}"

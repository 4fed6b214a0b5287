"""A fitted ``pm.Model`` on a subset of its rows (``ModelRows``), by graph replacement."""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest

from bayes_unlearn.model_rows import ModelRows

N, GROUPS = 40, 5


def _data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=N)
    group = np.arange(N) % GROUPS
    return x, group, 1.0 + 0.5 * x + rng.normal(size=N)


def _written(x, group, y, *, data: bool):
    """A varying-intercept model, its rows in pm.Data with dims, or baked in as arrays."""
    coords = {"group": np.arange(GROUPS)} | ({"obs": np.arange(len(y))} if data else {})
    with pm.Model(coords=coords) as model:
        if data:
            x = pm.Data("x", x, dims="obs")
            group = pm.Data("group_idx", group, dims="obs")
        b = pm.Normal("b", 0.0, 1.0)
        a = pm.Normal("a", 0.0, 1.0, dims="group")
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", a[group] + b * x, sigma, observed=y, dims="obs" if data else None)
    return model


@pytest.mark.parametrize("data", [True, False], ids=["pm.Data", "baked-in"])
def test_the_model_on_its_rows_at_positions_is_the_model_built_on_them(data):
    x, group, y = _data()
    keep = np.flatnonzero(group != 2)[::2]  # group 2 gone entirely
    rows = ModelRows(_written(x, group, y, data=data))
    rebuilt = rows(keep[:, None].astype(float), y[keep] + 0.25)
    direct = _written(x[keep], group[keep], y[keep] + 0.25, data=data)
    point = {"b": 0.3, "a": np.linspace(-1, 1, GROUPS), "sigma_log__": 0.1}
    # The levels stay the fitted model's: the group with no rows keeps its parameter.
    assert rebuilt.eval_rv_shapes()["a"] == (GROUPS,)
    np.testing.assert_allclose(rebuilt.compile_logp()(point), direct.compile_logp()(point))
    assert rebuilt.compile_logp()(point) != rows.model.compile_logp()(point)
    assert rows.n_rows == N and rows.X.shape == (N, 1)


def test_positions_must_be_the_models_rows():
    x, group, y = _data()
    rows = ModelRows(_written(x, group, y, data=True))
    for bad in ([[0.5]], [[N]], [[-1]], np.zeros((2, 2))):
        with pytest.raises(ValueError, match=r"positions|one column"):
            rows(np.asarray(bad, dtype=float), y[: len(bad)])
    with pytest.raises(ValueError, match="rows"):
        rows(np.zeros((3, 1)), y[:2])

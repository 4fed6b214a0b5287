"""Fitted Bambi models: ``bu.from_bambi`` on Bambi's own graph, ``bu.to_bambi`` back."""

from __future__ import annotations

import subprocess
import sys
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from tests.conftest import made_once, short_refits

bmb = pytest.importorskip("bambi")

GROUPS, PER_GROUP = 10, 8
GONE = "g3"


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(GROUPS), PER_GROUP)
    x = rng.normal(size=g.size)
    y = 1.0 + rng.normal(0, 0.8, GROUPS)[g] + (0.5 + rng.normal(0, 0.3, GROUPS)[g]) * x
    return pd.DataFrame({"y": y + rng.normal(0, 0.5, g.size), "x": x, "g": [f"g{k}" for k in g]})


@pytest.fixture(scope="session")
def fitted(tmp_path_factory):
    """``y ~ x + (x | g)`` fitted by Bambi with its defaults (centered, offsets omitted),
    once per run: the first worker fits and writes the draws, the others read them.

    1000 draws a chain: with 500, R-hat over the 10 groups' sds lands near 1.01 and
    ``from_bambi`` warns on some machines (1.014 with seed 1 on one, under 1.01 on another;
    1.005-1.017 over seeds 1-4 with 1000 tuning steps), while 1000 gave 1.004-1.007 on seeds 1-4."""
    df = _data()

    def fit(path):
        idata = bmb.Model("y ~ x + (x | g)", df).fit(
            draws=1000,
            tune=700,
            chains=4,
            cores=1,
            target_accept=0.95,
            random_seed=1,
            progressbar=False,
        )
        idata.to_netcdf(path)

    idata = az.from_netcdf(made_once(tmp_path_factory, "bambi_fit.nc", fit))
    model = bmb.Model("y ~ x + (x | g)", df)
    model.build()
    return model, idata, df


def test_the_wrapped_draws_are_bambis_own(fitted):
    model, idata, _ = fitted
    post = bu.from_bambi(model, idata, random_seed=2)
    assert post.draws_source == "fit" and post.feature_names == ("model_row",)
    back = bu.to_bambi(post).posterior
    # Bambi's intercept (uncentered) and group effects come back from the graph's draws.
    for name in ("Intercept", "x", "1|g", "x|g", "sigma"):
        assert_allclose(back[name].values, idata.posterior[name].values, atol=1e-10)


def test_a_forgotten_group_returns_to_its_prior_without_a_refit(fitted):
    model, idata, df = fitted
    post = bu.from_bambi(model, idata, random_seed=2)
    gone = bu.unlearn(post, forget=np.flatnonzero(df["g"] == GONE), random_seed=3)
    assert gone.diagnostics.method != "refit" and gone.diagnostics.reliable
    offsets = bu.to_bambi(gone, random_seed=4).posterior["1|g_offset"]
    kept, lost = offsets.sel(g__factor_dim="g2"), offsets.sel(g__factor_dim=GONE)
    # The offset's prior is N(0, 1). Tolerance: 4 Monte Carlo standard errors from its ESS.
    se = 1.0 / np.sqrt(float(az.ess(lost.to_dataset(name="o"))["o"]))
    assert abs(float(lost.mean())) < 4 * se and abs(float(lost.std()) - 1.0) < 4 * se
    assert float(kept.std()) < 0.8  # a group with rows is pinned down (its sd was ~0.4)


def test_predictions_are_bambis_predict_on_the_unlearned_draws(fitted):
    model, idata, df = fitted
    gone = bu.unlearn(bu.from_bambi(model, idata, random_seed=1), forget=[0, 9, 17], random_seed=3)
    draws = bu.to_inference_data(gone, random_seed=6).posterior
    ours = pm.compute_deterministics(
        draws, var_names=["mu"], model=gone.model.builder.model, progressbar=False
    )["mu"]
    theirs = model.predict(bu.to_bambi(gone, random_seed=6), kind="response_params", inplace=False)
    assert_allclose(theirs.posterior["mu"].values, ours.values, rtol=1e-10, atol=1e-10)


def test_a_bambi_file_loads_with_the_model_and_refits_keeping_the_levels(fitted, tmp_path):
    model, idata, df = fitted
    forget = np.flatnonzero(df["g"] == GONE)
    gone = bu.unlearn(bu.from_bambi(model, idata, random_seed=1), forget=forget, random_seed=2)
    bu.save(gone, tmp_path / "bambi.nc", random_seed=3)
    back = bu.load(tmp_path / "bambi.nc", model=model)
    back = short_refits(back, draws=20, tune=20, chains=1)  # the levels are the point, not accuracy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        refit = bu.unlearn(back, forget=[0], method="refit", random_seed=7)
    assert refit.idata.posterior["1|g_offset"].sizes["g__factor_dim"] == GROUPS
    with pytest.raises(TypeError, match=r"bu\.from_bambi"):
        bu.to_bambi(bu.load(tmp_path / "bambi.nc"))


def test_bad_input_is_refused(fitted):
    model, idata, _ = fitted
    with pytest.raises(TypeError, match=r"must be a bambi\.Model"):
        bu.from_bambi(object(), idata)
    with pytest.raises(TypeError, match=r"model\.fit"):
        bu.from_bambi(model, {"posterior": None})


def test_arviz_still_imports_beside_bambi():
    """Bambi's arviz-plots needs matplotlib < 3.11: the extra's pin keeps ``import arviz``."""
    code = "import bambi, arviz, matplotlib; print(arviz.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]

"""Reweighting recovers exact answers; requests compose; bad requests fail clearly."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.model_selection import train_test_split

import bayes_unlearn as bu
from tests.conftest import closed_form_posterior


def _mcmc_efficiency(post):
    """Smallest bulk ESS / S of the original draws: reweighted draws inherit this autocorrelation."""
    return post.diagnostics.ess / post.n_draws


@pytest.mark.parametrize("fraction", [0.01, 0.03, 0.05])
def test_reweighting_recovers_closed_form_posterior(linear_post, linear_data, fraction):
    X, y = linear_data
    rng = np.random.default_rng(int(fraction * 1000))
    forget = np.sort(rng.choice(len(y), size=max(1, round(fraction * len(y))), replace=False))
    keep = np.setdiff1d(np.arange(len(y)), forget)
    mean, cov = closed_form_posterior(X[keep], y[keep])
    sd = np.sqrt(np.diag(cov))

    # The estimator's accuracy is checked whatever its verdict; the verdict itself is
    # checked in test_honesty.py (here the 3% and 5% sets keep < 75% of the draws' ESS).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        un = bu.unlearn(linear_post, forget=forget, method="reweight")
    assert un.diagnostics.pareto_k <= un.diagnostics.pareto_k_threshold
    assert un.diagnostics.reliable == (un.diagnostics.ess >= 0.75 * un.n_draws)
    table = un.summary()
    # Monte Carlo error of a weighted mean: sd / sqrt(ESS), with ESS = IS ESS x MCMC efficiency;
    # of an sd estimate for a Gaussian: sd / sqrt(2 ESS). 4 standard errors each.
    ess = un.diagnostics.ess * _mcmc_efficiency(linear_post)
    assert_allclose(table["mean"], mean, rtol=0, atol=4 * sd.max() / np.sqrt(ess))
    assert_allclose(table["sd"], sd, rtol=4 / np.sqrt(2 * ess), atol=0)


def test_large_structured_forget_set_is_flagged(linear_post, linear_data):
    X, _ = linear_data
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.5))  # half the rows, one side of x0
    with pytest.warns(bu.UnreliableUnlearningWarning, match="method='refit'"):
        un = bu.unlearn(linear_post, forget=forget, method="reweight")
    d = un.diagnostics
    assert not d.reliable
    assert d.pareto_k > d.pareto_k_threshold == pytest.approx(min(1 - 1 / np.log10(4000), 0.7))
    assert "refit" in d.verdict


@pytest.mark.parametrize("reff", [None, 1.0], ids=["default reff", "reff=1"])
def test_single_row_forget_matches_psis_loo(linear_post, linear_data, reff):
    X, y = linear_data
    loo = az.loo(linear_post.idata, pointwise=True, reff=reff)  # None: az.loo's own estimate
    for i in (0, 7, 42, 119):
        un = bu.unlearn(linear_post, forget=[i], reff=reff, method="reweight")
        lpd = un.log_predictive_density(X[[i]], y[[i]])
        assert lpd == pytest.approx(float(loo.loo_i[i]), abs=1e-8)
        assert un.diagnostics.pareto_k == pytest.approx(float(loo.pareto_k[i]), abs=1e-10)


def test_sequential_requests_compose(linear_post):
    a, b = [3, 17], [42, 64, 100]
    step = bu.unlearn(
        bu.unlearn(linear_post, forget=a, method="reweight"), forget=b, method="reweight"
    )
    once = bu.unlearn(linear_post, forget=a + b, method="reweight")
    assert_allclose(step.log_weights, once.log_weights, rtol=0, atol=1e-10)
    assert_allclose(step.summary(), once.summary(), rtol=1e-10)
    assert step.diagnostics.pareto_k == pytest.approx(once.diagnostics.pareto_k)
    assert [r["row_ids"] for r in step.history] == [a, b]
    assert sorted(step.forgotten_row_ids) == sorted(a + b)
    assert not np.isin(a + b, step.row_ids).any()


def test_unlearn_does_not_mutate_input(linear_post):
    before = linear_post.log_weights.copy()
    n_rows = linear_post.row_ids.size
    bu.unlearn(linear_post, forget=[5])
    assert_allclose(linear_post.log_weights, before)
    assert linear_post.row_ids.size == n_rows and not linear_post.history


def test_raw_importance_weights_option(linear_post):
    raw = bu.unlearn(linear_post, forget=[1, 2, 3], pareto_smoothing=False, method="reweight")
    psis = bu.unlearn(linear_post, forget=[1, 2, 3], method="reweight")
    assert raw.diagnostics.reason.endswith("(raw IS)")
    # Small forget set: smoothing touches only the largest weights.
    assert_allclose(raw.summary()["mean"], psis.summary()["mean"], atol=0.01)


@pytest.mark.parametrize(
    ("forget", "exc", "match"),
    [
        ([], ValueError, "empty"),
        ([3, 3], ValueError, "more than once"),
        ([10_000], ValueError, r"row ids in \[0, 119\]. Got unknown ids \[10000\]"),
        ([-1], ValueError, "unknown ids"),
        (np.ones(120, dtype=bool), TypeError, "boolean mask"),
        ([1.5], TypeError, "integer row ids"),
        (["a"], TypeError, "integer row ids"),
        (list(range(120)), ValueError, "all 120 remaining rows"),
        ([True, 5], TypeError, "mixes booleans"),
        (True, TypeError, "mixes booleans"),
        (None, TypeError, "Got None"),
        ([[1, 2], [3, 4]], ValueError, r"flat \(1-D\) list.*shape \(2, 2\)"),
        ([[1, 2], [3]], ValueError, "nested sequences"),
        ([1e20], TypeError, "dtype float64"),
        ([2.0, 3.0], TypeError, "never cast"),
        ([1, 2**70], TypeError, "dtype object"),
        (3.5, TypeError, "integer row ids"),
    ],
)
def test_bad_forget_requests(linear_post, forget, exc, match):
    with pytest.raises(exc, match=match) as err:
        bu.unlearn(linear_post, forget=forget)
    assert "'forget'" in str(err.value) and len(str(err.value).splitlines()) == 1


def test_forgetting_a_row_twice_is_an_error(linear_post):
    un = bu.unlearn(linear_post, forget=[4, 9])
    with pytest.raises(ValueError, match=r"already forgotten: \[9\] \(by request #1\)"):
        bu.unlearn(un, forget=[9, 10])


def test_unknown_method_suggests_a_name(linear_post):
    with pytest.raises(ValueError, match="Did you mean 'reweight'"):
        bu.unlearn(linear_post, forget=[1], method="reweigth")
    with pytest.raises(TypeError, match="must be a Posterior"):
        bu.unlearn("post.nc", forget=[1])


def test_find_rows_by_content(linear_post, linear_data):
    X, y = linear_data
    assert_allclose(linear_post.find_rows(X[[8, 2]], y[[8, 2]]), [8, 2])
    key = b"controller-secret-0123456789"
    un = bu.unlearn(linear_post, forget=[8], key=key)
    with pytest.raises(ValueError, match="already forgotten"):
        un.find_rows(X[[8]], y[[8]], key=key)
    # Without the key the file cannot tell a forgotten row from a stranger (by design).
    with pytest.raises(ValueError, match=r"not a training row.*pass key="):
        un.find_rows(X[[8]], y[[8]])
    with pytest.raises(ValueError, match="not a training row"):
        un.find_rows(X[[8]], y[[8]], key=b"some-other-key-0123456789")
    with pytest.raises(ValueError, match="not a training row"):
        un.find_rows(X[[2]] + 1e-3, y[[2]])


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


def test_global_numpy_random_state_is_untouched(linear_post):
    state = np.random.get_state()[1].copy()
    un = bu.unlearn(linear_post, forget=[0, 1])
    un.to_inference_data(random_seed=1)
    assert np.array_equal(np.random.get_state()[1], state)


@pytest.fixture(scope="module")
def pima_split():
    df = bu.datasets.load_pima(impute=True)
    X, y = df.drop(columns="Outcome"), df["Outcome"].to_numpy()
    return train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)


@pytest.mark.slow
def test_pima_one_percent_reweighting_agrees_with_refit(pima_split):
    X_train, X_test, y_train, y_test = pima_split
    settings = {"draws": 500, "tune": 500, "chains": 4}
    post = bu.fit(bu.LogisticRegression(), X_train, y_train, random_seed=1, **settings)
    forget = np.random.default_rng(0).choice(
        post.row_ids, size=round(0.01 * len(y_train)), replace=False
    )
    un = bu.unlearn(post, forget=forget, method="reweight")
    ref = bu.unlearn(post, forget=forget, method="refit", random_seed=2)
    floor_fit = bu.unlearn(post, forget=forget, method="refit", random_seed=3)
    fidelity = bu.compare(un, ref, X_test=X_test, y_test=y_test)
    floor = bu.compare(floor_fit, ref, X_test=X_test, y_test=y_test)
    # Both differences are pure Monte Carlo noise when reweighting is exact in the limit:
    # SMD_j ~ N(0, 1/ESS_a + 1/ESS_b). Bound at 4.5 standard errors (max over 9 parameters).
    ess_un = un.diagnostics.ess * _mcmc_efficiency(post)
    bound_un = 4.5 * np.sqrt(1 / ess_un + 1 / ref.diagnostics.ess)
    bound_floor = 4.5 * np.sqrt(1 / floor_fit.diagnostics.ess + 1 / ref.diagnostics.ess)
    assert un.diagnostics.reliable
    assert fidelity.max_abs_smd < bound_un
    assert floor.max_abs_smd < bound_floor
    assert fidelity.max_abs_log_sd_ratio < 4.5 * np.sqrt(
        1 / (2 * ess_un) + 1 / (2 * ref.diagnostics.ess)
    )
    assert abs(fidelity.lpd_diff) < 0.01  # nats per test row


def test_fit_warns_when_its_chains_do_not_converge_and_unlearning_says_so():
    X, y = bu.datasets.make_linear_regression(n=40, random_seed=1)
    with pytest.warns(bu.ConvergenceWarning, match="did not converge"):
        post = bu.fit(bu.PolynomialRegression(), X, y, draws=15, tune=5, chains=2, random_seed=0)
    assert not post.diagnostics.reliable
    with pytest.warns(bu.ConvergenceWarning, match="did not converge"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
            un = bu.unlearn(post, forget=[0], method="reweight")
    assert not un.diagnostics.reliable and "did not converge" in un.diagnostics.verdict
    # ... and so does a later request on the unlearned posterior (the problem is inherited).
    with pytest.warns(bu.ConvergenceWarning):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
            again = bu.unlearn(un, forget=[1], method="reweight")
    assert not again.diagnostics.reliable


def test_default_method_is_auto(linear_post, linear_data):
    X, _ = linear_data
    small = bu.unlearn(linear_post, forget=[0])
    assert small.history[-1]["requested"] == "auto" and small.diagnostics.reason.startswith("auto")
    forget = np.flatnonzero(X[:, 0] > np.quantile(X[:, 0], 0.8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default never hands back an unreliable result
        big = bu.unlearn(linear_post, forget=forget, random_seed=0)
    assert big.diagnostics.method in ("smc", "refit") and big.diagnostics.reliable


def test_every_method_takes_the_common_options_and_refuses_unknown_ones(linear_post):
    # progressbar is common to every method (it used to be a raw TypeError with reweight).
    un = bu.unlearn(linear_post, forget=[0], method="reweight", progressbar=True)
    assert un.diagnostics.method == "reweight"
    with pytest.raises(TypeError, match=r"takes no option 'pareto_smothing'.*'pareto_smoothing'"):
        bu.unlearn(linear_post, forget=[0], method="reweight", pareto_smothing=False)
    with pytest.raises(TypeError, match=r"method='refit'\) takes no option 'max_stages'"):
        bu.unlearn(linear_post, forget=[0], method="refit", max_stages=3)


def test_forget_log_ratios_are_the_reweighting_ratios(linear_post):
    from bayes_unlearn.unlearning import forget_log_ratios

    un = bu.unlearn(linear_post, forget=[2, 5], method="reweight")
    assert_allclose(
        forget_log_ratios(linear_post, np.array([2, 5])),
        un.idata.sample_stats["log_importance_ratio"].values.ravel(),
    )

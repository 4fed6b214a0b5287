"""Reweighting recovers exact answers; requests compose; bad requests fail clearly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.model_selection import train_test_split

import bayes_unlearn as bu
from tests.conftest import PROPERTY_SETTINGS, mcmc_efficiency


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


def test_global_numpy_random_state_is_untouched(linear_post):
    state = np.random.get_state()[1].copy()
    un = bu.unlearn(linear_post, forget=[0, 1])
    bu.to_inference_data(un, random_seed=1)
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
    ess_un = un.diagnostics.ess * mcmc_efficiency(post)
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
    with pytest.warns(bu.MCMCConvergenceWarning, match="did not converge"):
        post = bu.fit(bu.PolynomialRegression(), X, y, draws=15, tune=5, chains=2, random_seed=0)
    assert not post.diagnostics.reliable
    with pytest.warns(bu.MCMCConvergenceWarning, match="did not converge"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
            un = bu.unlearn(post, forget=[0], method="reweight")
    assert not un.diagnostics.reliable and "did not converge" in un.diagnostics.verdict
    # ... and so does a later request on the unlearned posterior (the problem is inherited).
    with pytest.warns(bu.MCMCConvergenceWarning):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
            again = bu.unlearn(un, forget=[1], method="reweight")
    assert not again.diagnostics.reliable


def test_every_method_takes_the_common_options_and_refuses_unknown_ones(linear_post):
    # progressbar is common to every method (it used to be a raw TypeError with reweight).
    un = bu.unlearn(linear_post, forget=[0], method="reweight", progressbar=True)
    assert un.diagnostics.method == "reweight"
    with pytest.raises(TypeError, match=r"takes no option 'pareto_smothing'.*'pareto_smoothing'"):
        bu.unlearn(linear_post, forget=[0], method="reweight", pareto_smothing=False)
    with pytest.raises(TypeError, match=r"method='refit'\) takes no option 'max_stages'"):
        bu.unlearn(linear_post, forget=[0], method="refit", max_stages=3)


@PROPERTY_SETTINGS
@given(st.data())
def test_sequential_requests_compose_exactly_in_memory(linear_post, data):
    ids = data.draw(st.lists(st.integers(0, 119), min_size=2, max_size=8, unique=True))
    cut = data.draw(st.integers(1, len(ids) - 1))
    a, b = ids[:cut], ids[cut:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        step = bu.unlearn(
            bu.unlearn(linear_post, forget=a, method="reweight"), forget=b, method="reweight"
        )
        once = bu.unlearn(linear_post, forget=a + b, method="reweight")
    assert_allclose(step.log_weights, once.log_weights, rtol=0, atol=1e-10)
    assert sorted(step.forgotten_row_ids) == sorted(ids)


def test_a_key_for_a_numpy_model_is_refused():
    """A NumPy model keeps no request history, so a key would be silently ignored."""
    from bayes_unlearn.numpy_models import PolynomialRegressor

    x = np.linspace(-1, 1, 30)
    model = PolynomialRegressor(degree=2).fit(x[:, None], x**2)
    with pytest.raises(TypeError, match="keeps none"):
        bu.unlearn(model, forget=[0, 1], method="retrain", key=b"k" * 16)

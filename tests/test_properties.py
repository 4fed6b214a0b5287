"""Property-based tests (Hypothesis): forget requests, their composition, save/load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn._validation import check_forget

REMAINING = np.arange(0, 60, 2)  # ids 0, 2, ..., 58
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(st.lists(st.sampled_from(REMAINING.tolist()), min_size=1, max_size=29, unique=True))
def test_a_valid_request_comes_back_sorted_and_unchanged(ids):
    out = check_forget(ids, remaining=REMAINING)
    assert out.dtype == np.int64 and out.tolist() == sorted(ids)


@given(
    st.lists(st.sampled_from(REMAINING.tolist()), min_size=1, max_size=10, unique=True),
    st.integers(0, 100),
)
def test_a_repeated_or_unknown_id_is_refused(ids, extra):
    with pytest.raises(ValueError, match="more than once"):
        check_forget([*ids, ids[0]], remaining=REMAINING)
    if extra not in REMAINING:
        with pytest.raises(ValueError, match="unknown ids"):
            check_forget([*ids, extra], remaining=REMAINING)


@given(st.lists(st.floats(allow_nan=True) | st.booleans() | st.none(), min_size=1, max_size=5))
def test_nothing_is_cast_into_a_row_id(values):
    with pytest.raises((TypeError, ValueError)):
        check_forget(values, remaining=REMAINING)


@SETTINGS
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


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(st.integers(0, 149), min_size=1, max_size=5, unique=True), seed=st.integers(0, 9)
)
def test_save_then_load_gives_back_what_was_written(logistic_post, tmp_path_factory, ids, seed):
    path = tmp_path_factory.mktemp("prop") / "post.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        written = bu.unlearn(logistic_post, forget=ids, method="reweight").save(
            path, random_seed=seed
        )
    back = bu.load(path)
    assert_allclose(back.params["coef"], written.params["coef"], rtol=0, atol=0)
    assert back.standardizer == written.standardizer and back.history == written.history
    assert back.draws_source == "refresh" and sorted(back.forgotten_row_ids) == sorted(ids)

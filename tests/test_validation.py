"""Forget requests are checked strictly (_validation.check_forget), property-based."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayes_unlearn._validation import check_forget

REMAINING = np.arange(0, 60, 2)  # ids 0, 2, ..., 58


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

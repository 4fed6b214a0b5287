"""Randomness enters the package through ``bayes_unlearn._random``; the suite seeds it."""

from __future__ import annotations

import numpy as np
import pytest

import bayes_unlearn as bu
from bayes_unlearn._random import get_random_generator, seed_to_int


def test_a_generator_given_is_spawned_so_two_calls_get_two_streams():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    first, second = get_random_generator(rng), get_random_generator(rng)
    assert rng.bit_generator.state == state  # the caller's stream is not advanced
    assert first.random() != second.random()
    assert seed_to_int(7) == 7 and seed_to_int(np.random.default_rng(1)) == seed_to_int(
        np.random.default_rng(1)
    )


def test_the_suite_fails_a_test_that_draws_without_a_seed(linear_post):
    """The positive control of the conftest rule: a stream started without a seed (its module
    is imported lazily, after the rule was set up) fails the test that started it."""
    with pytest.raises(AssertionError, match="without a random_seed"):
        bu.ForgetStream(linear_post)
    assert bu.ForgetStream(linear_post, random_seed=0).n_requests == 0


@pytest.mark.unseeded
def test_without_a_seed_each_call_draws_afresh(linear_post):
    assert get_random_generator(None).random() != get_random_generator(None).random()
    assert bu.ForgetStream(linear_post).n_requests == 0

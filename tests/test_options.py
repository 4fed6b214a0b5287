"""Library options: validation, scoping, and what they change."""

from __future__ import annotations

import pytest

import bayes_unlearn as bu


def test_options_apply_inside_the_block_and_are_restored():
    before = bu.get_options()
    with bu.set_options(chunk_rows=7, progressbar=False):
        assert bu.get_options() == {**before, "chunk_rows": 7, "progressbar": False}
    assert bu.get_options() == before


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"chunk_rows": 0}, ValueError, "'chunk_rows' option must be a positive int"),
        ({"chunk_rows": 2.5}, TypeError, "'chunk_rows' option must be a positive int"),
        ({"dask": "yes"}, TypeError, "'dask' option must be True or False"),
        ({"chunk": 10}, ValueError, "Unknown option 'chunk'; the options are"),
    ],
)
def test_bad_options_name_the_option(options, error, match):
    before = bu.get_options()
    with pytest.raises(error, match=match):
        bu.set_options(**options)
    assert bu.get_options() == before  # nothing half-applied

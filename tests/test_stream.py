"""A stream of forget requests: exact composition, the save cadence, the fallbacks."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn import journal, storage
from bayes_unlearn.methods.reweight import forget_log_ratios


def test_requests_compose_exactly_in_the_weights(logistic_post):
    ids = logistic_post.row_ids[[3, 40, 77]]
    stream = bu.ForgetStream(logistic_post, random_seed=0)
    acks = [stream.forget([i]) for i in ids]
    assert [a.method for a in acks] == ["reweight"] * 3 and all(a.reliable for a in acks)
    assert [a.request for a in acks] == [1, 2, 3]
    assert not np.isin(ids, stream.posterior.row_ids).any()
    ratio = stream.posterior.idata.sample_stats["log_importance_ratio"].values.ravel()
    assert_allclose(ratio, forget_log_ratios(logistic_post, ids), rtol=1e-10)


def test_the_posterior_is_saved_at_the_cadence_and_on_leaving(logistic_post, tmp_path):
    path = tmp_path / "stream.nc"
    ids = logistic_post.row_ids[:7]
    with bu.ForgetStream(logistic_post, path, save_every=3, random_seed=1) as stream:
        saved = [stream.forget([i]).saved for i in ids]
        assert saved == [False, False, True, False, False, True, False]
        # The file holds six; the seventh, acknowledged, is in its journal and load applies it.
        assert len(storage.read(path, None)[1]["history"]) == 6
        assert len(journal.read(path)) == 1
        assert bu.load(path).forgotten_row_ids.size == 7
    back = bu.load(path)  # the last request was saved on leaving the block
    assert not journal.journal_path(path).exists()
    np.testing.assert_array_equal(back.forgotten_row_ids, np.sort(ids))
    assert back.is_saveable and not back.is_weighted


def test_a_request_reweighting_cannot_carry_goes_up_the_ladder(shifted):
    post, bad, _, _ = shifted
    stream = bu.ForgetStream(post, random_seed=2)
    first = stream.forget(bad)  # 15 influential rows at once: k̂ or ESS fails
    assert first.method != "reweight" and first.reliable, first
    assert stream.posterior.row_ids.size == post.row_ids.size - bad.size


def test_bad_requests_leave_the_stream_as_it_was(logistic_post, tmp_path):
    stream = bu.ForgetStream(logistic_post, random_seed=0)
    with pytest.raises(ValueError, match="row"):
        stream.forget([10_000])
    assert stream.n_requests == 0 and stream.posterior is logistic_post
    with pytest.raises(ValueError, match="'save_every' parameter must be a positive integer"):
        bu.ForgetStream(logistic_post, save_every=0)
    with pytest.raises(FileNotFoundError, match="Create it first"):
        bu.ForgetStream(logistic_post, tmp_path / "missing" / "post.nc")

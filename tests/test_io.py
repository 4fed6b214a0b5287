"""Save/load round-trips exactly; bad files fail clearly; saving is atomic."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
import xarray as xr

import bayes_unlearn as bu
from bayes_unlearn import io
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.layout import saved_diagnostics


def _assert_same(a, b):
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data"):
        xr.testing.assert_identical(
            getattr(a.idata, group).drop_attrs(), getattr(b.idata, group).drop_attrs()
        )
    assert a.model == b.model and a.standardizer == b.standardizer
    assert a.feature_names == b.feature_names and a.target_name == b.target_name
    assert a.sampler == b.sampler and a.history == b.history
    assert a.draws_source == b.draws_source
    assert a.diagnostics == UnlearningDiagnostics.from_dict(saved_diagnostics(b.diagnostics))


def test_round_trip_fit_and_unlearned(tmp_path, logistic_post):
    path = tmp_path / "post.nc"
    assert logistic_post.save(path) is logistic_post  # MCMC draws are saved as they are
    _assert_same(bu.load(path), logistic_post)
    un = bu.unlearn(logistic_post, forget=[3, 17, 42], method="reweight")
    written = un.save(path, random_seed=0)  # overwrite in place
    assert written.draws_source == "refresh" and not written.is_weighted
    back = bu.load(path)
    _assert_same(back, written)
    np.testing.assert_array_equal(
        back.predict_proba(np.zeros((2, 3))), written.predict_proba(np.zeros((2, 3)))
    )
    # The loaded posterior keeps forgetting where the saved one left off.
    again = bu.unlearn(back, forget=[5])
    assert [r["row_ids"] for r in again.history] == [[3, 17, 42], [5]]


def test_unlearned_file_holds_no_values_of_forgotten_rows(tmp_path, logistic_post):
    key = "a-secret-the-controller-keeps"
    un = bu.unlearn(logistic_post, forget=[3, 17], key=key)
    un.save(tmp_path / "u.nc")
    back = bu.load(tmp_path / "u.nc")
    assert not np.isin([3, 17], back.idata.constant_data["obs_id"]).any()
    assert not np.isin([3, 17], back.idata.log_likelihood["obs_id"]).any()
    assert len(back.history[0]["fingerprints"]) == 2  # keyed: useless without the key
    plain = bu.unlearn(logistic_post, forget=[3, 17])
    assert "fingerprints" not in plain.history[0]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No posterior file"):
        bu.load(tmp_path / "nope.nc")


def test_truncated_file(tmp_path, logistic_post):
    path = tmp_path / "post.nc"
    logistic_post.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable posterior file"):
        bu.load(path)


def test_corrupted_array_fails_checksum(tmp_path, logistic_post):
    import h5py

    path = tmp_path / "post.nc"
    logistic_post.save(path)
    with h5py.File(path, "r+") as fh:  # a silent change to one stored draw
        fh["posterior/intercept"][0, 0] = 99.0
    with pytest.raises(ValueError, match="failed its checksum"):
        bu.load(path)


def test_foreign_netcdf_and_text_file(tmp_path):
    foreign = tmp_path / "foreign.nc"
    az.from_dict(posterior={"mu": np.zeros((2, 10))}).to_netcdf(str(foreign))
    with pytest.raises(ValueError, match="not a bayes-unlearn posterior"):
        bu.load(foreign)
    text = tmp_path / "notes.nc"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable posterior file"):
        bu.load(text)


def test_failed_save_keeps_the_old_file(tmp_path, logistic_post, monkeypatch):
    path = tmp_path / "post.nc"
    logistic_post.save(path)
    good = path.read_bytes()

    def broken(self, filename, **kwargs):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(az.InferenceData, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        bu.unlearn(logistic_post, forget=[1]).save(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["post.nc"]  # no temporary file left


def test_save_to_missing_directory(tmp_path, logistic_post):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.save(logistic_post, tmp_path / "no" / "post.nc")

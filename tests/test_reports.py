"""The HTML report: sections, embedded images, no forgotten values, renders in a browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest

import bayes_unlearn as bu
from bayes_unlearn.cli import main

KEY = b"report-test-key-0123456789"
SECTIONS = ("verdict", "sampling", "request", "method", "posteriors", "predictions")


@pytest.fixture(scope="module")
def unlearned(logistic_post):
    return bu.unlearn(logistic_post, forget=[3, 17, 42], method="reweight", key=KEY)


def test_report_of_unlearned_posterior(tmp_path, unlearned, logistic_post, logistic_data):
    X, y = logistic_data
    ref = bu.unlearn(logistic_post, forget=[3, 17, 42], method="refit", random_seed=1)
    path = bu.report(unlearned, tmp_path / "r.html", reference=ref, X_test=X[:40], y_test=y[:40])
    text = path.read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text
    assert len(re.findall(r'src="data:image/png;base64,', text)) >= 4
    assert "Trustworthy" in text and "Pareto k̂" in text and "Fidelity to the reference" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched when viewed
    for fp in unlearned.history[0]["fingerprints"]:
        assert fp in text
    # The forgotten rows' values never appear (full-precision reprs would be unmistakable).
    for i in (3, 17, 42):
        for value in X[i]:
            assert repr(float(value)) not in text and f"{value:.6f}" not in text


def test_verdict_follows_diagnostics(tmp_path, logistic_post):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        bad = bu.unlearn(logistic_post, forget=list(range(0, 150, 2)), method="reweight")
    assert not bad.diagnostics.reliable
    text = bu.report(bad, tmp_path / "bad.html").read_text()
    assert "use method=&#x27;refit&#x27;" in text and 'class="verdict bad"' in text


def test_report_of_fit_and_smc(tmp_path, linear_post):
    text = bu.report(linear_post, tmp_path / "fit.html").read_text()
    assert "Converged" in text and "No rows have been forgotten" in text
    smc = bu.unlearn(linear_post, forget=list(range(30)), method="smc", random_seed=0)
    text = bu.report(smc, tmp_path / "smc.html", original=linear_post).read_text()
    assert "SMC stages" in text and "R-hat and chain plots do not apply" in text


def test_cli_report(tmp_path, unlearned):
    bu.save(unlearned, tmp_path / "u.nc", random_seed=0)
    assert main(["report", str(tmp_path / "u.nc"), "-o", str(tmp_path / "u.html")]) == 0
    text = (tmp_path / "u.html").read_text()
    for sid in SECTIONS:  # the same report as the API writes, read back from the file
        assert f'<section id="{sid}">' in text
    assert "Refreshed" in text and "3 forgotten" in text
    assert "rows forgotten (this request)" in text and "refresh" in text


def test_report_never_shows_forgotten_values_at_any_rounding(tmp_path, logistic_data):
    """Forgotten rows with values no other number in the report can match by chance."""
    X, y = logistic_data
    X = X.copy()
    X[[3, 17]] = [[7.3719, -8.4163, 9.2837], [6.1948, -5.8271, 4.9306]]
    with warnings.catch_warnings():  # the outliers make reweighting unreliable; not tested here
        warnings.simplefilter("ignore", bu.MCMCConvergenceWarning)
        warnings.simplefilter("ignore", bu.UnreliableUnlearningWarning)
        post = bu.fit(bu.LogisticRegression(), X, y, draws=500, tune=500, chains=2, random_seed=2)
        un = bu.unlearn(post, forget=[3, 17], method="reweight")
    text = bu.report(un, tmp_path / "r.html", X_test=X[40:80], y_test=y[40:80]).read_text()
    text += bu.report(bu.refresh(un, random_seed=0), tmp_path / "s.html").read_text()
    for value in X[[3, 17]].ravel():
        for digits in (3, 4, 6):
            assert f"{value:.{digits}f}" not in text, (value, digits)


CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)


@pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (.ci/run installs Debian's chromium)"
)
@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path, unlearned, logistic_data):
    from matplotlib.image import imread

    X, y = logistic_data
    page = bu.report(unlearned, tmp_path / "r.html", X_test=X[:40], y_test=y[:40])
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    img = imread(shot)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    # A non-blank page: many distinct colours and real variation, not a white sheet.
    assert img[..., :3].std() > 0.05
    assert np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0).shape[0] > 50


def test_report_leaves_the_callers_matplotlib_state_alone(tmp_path, linear_post):
    import matplotlib
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    mine = plt.figure()  # a user's open figure
    bu.report(linear_post, tmp_path / "r.html")
    assert matplotlib.get_backend() == before
    assert plt.fignum_exists(mine.number) and plt.get_fignums() == [mine.number]
    plt.close(mine)


def test_reweighting_smc_draws_is_not_reported_as_mcmc(tmp_path, linear_post):
    smc = bu.unlearn(linear_post, forget=list(range(30)), method="smc", random_seed=0)
    again = bu.unlearn(smc, forget=[40], method="reweight")
    assert again.diagnostics.reweighted_draws == "smc"
    text = bu.report(again, tmp_path / "r.html").read_text()
    assert "produced by smc" in text and "MCMC draws of the" not in text
    d = again.diagnostics
    assert d.ess == d.ess_importance and d.ess_bulk is None and d.distinct_draws is None


def test_smcs_saved_chains_are_reported_as_short_chains():
    from types import SimpleNamespace

    from bayes_unlearn.reports import _sampling_section

    text = _sampling_section(SimpleNamespace(draws_source="smc_chains", diagnostics=None))
    assert "SMC's final HMC chains" in text and "R-hat" in text and "do not apply" in text

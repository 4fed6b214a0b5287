"""Library options: validation, scoping, and what they change."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
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
        ({"cores": 0}, ValueError, "'cores' option must be a positive int"),
        ({"cores": True}, TypeError, "'cores' option must be a positive int"),
        ({"chunk": 10}, ValueError, "Unknown option 'chunk'; the options are"),
    ],
)
def test_bad_options_name_the_option(options, error, match):
    before = bu.get_options()
    with pytest.raises(error, match=match):
        bu.set_options(**options)
    assert bu.get_options() == before  # nothing half-applied


@pytest.mark.filterwarnings("ignore::bayes_unlearn.MCMCConvergenceWarning")  # 20 draws
@pytest.mark.filterwarnings("ignore::bayes_unlearn.UnreliableUnlearningWarning")
def test_cores_caps_every_parallel_default_and_an_explicit_request_wins(monkeypatch):
    from bayes_unlearn import _backend
    from bayes_unlearn._forked import default_cores
    from bayes_unlearn._kernels import default_threads

    X = np.random.default_rng(0).standard_normal((30, 1))
    y = X[:, 0] + 0.1
    model = bu.PolynomialRegression(degree=1, sigma=1.0)
    fit = dict(draws=20, tune=20, chains=2, random_seed=0, progressbar=False)
    with bu.set_options(cores=1):
        assert default_cores() == default_threads() == 1
        assert bu.fit(model, X, y, **fit).sampler["cores"] == 1
        two = bu.fit(model, X, y, cores=2, **fit)
        assert two.sampler["cores"] == 2
        asked = []
        real = _backend.pymc().sample
        monkeypatch.setattr(
            _backend.pymc(), "sample", lambda *a, **k: asked.append(k["cores"]) or real(*a, **k)
        )
        bu.unlearn(two, forget=[0], method="refit")  # the fit's 2, capped by the option
        assert asked == [1]
    with bu.set_options(cores=64):  # a cap, not a request: never more than the machine
        assert default_cores() <= 8 and default_threads() <= 8


def _options_in_a_new_process(value: str | None):
    env = {k: v for k, v in os.environ.items() if k != "BAYES_UNLEARN_CORES"}
    if value is not None:
        env["BAYES_UNLEARN_CORES"] = value
    code = "import bayes_unlearn as bu; print(bu.get_options()['cores'])"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_the_environment_sets_the_cores_option_for_new_processes():
    assert _options_in_a_new_process("3").stdout.strip() == "3"
    assert _options_in_a_new_process(None).stdout.strip() == "None"
    bad = _options_in_a_new_process("two")
    assert bad.returncode != 0
    assert "BAYES_UNLEARN_CORES environment variable must be a positive integer" in bad.stderr

"""Compiled functions on disk (_function_cache.py): loaded, not rewritten again, and only
when the file is this user's alone and was written for the same graphs."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pymc as pm
import pytest
from numpy.testing import assert_array_equal

import bayes_unlearn as bu
from bayes_unlearn import _function_cache, compiled
from bayes_unlearn.compiled import CompiledModel


def _linear(X, y):
    with pm.Model() as model:
        beta = pm.Normal("beta", 0, 1, shape=X.shape[1])
        sigma = pm.HalfNormal("sigma", 1)
        pm.Normal("y", pm.math.dot(X, beta), sigma, observed=y)
    return model


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    cm = CompiledModel(_linear(X, X[:, 0] + rng.standard_normal(30)))
    u = rng.standard_normal((5, cm.dim))
    return cm, u


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(_function_cache, "directory", lambda: tmp_path / "bayes_unlearn")
    monkeypatch.delenv(_function_cache.ENV, raising=False)
    return tmp_path / "bayes_unlearn"


def _fresh(cm):
    """The functions of ``cm``'s structure as a new process finds them (nothing in memory)."""
    return compiled._Functions(cm, compiled._structure_key(cm))


def _graphs_never_built(monkeypatch):
    def fail(cm):
        raise AssertionError("compiled again")

    monkeypatch.setattr(compiled, "_graphs", fail)


def test_a_later_process_loads_the_function_without_rewriting_it(model, cache_dir, monkeypatch):
    cm, u = model
    expected = _fresh(cm)["loglik"](u, *cm._data_args(None))
    assert len(list(cache_dir.glob("*.pkl"))) == 1
    _graphs_never_built(monkeypatch)
    loaded = _fresh(cm)["loglik"]
    assert_array_equal(loaded(u, *cm._data_args(None)), expected)


def test_every_function_pickles_and_gives_the_same_numbers(model):
    cm, u = model
    args = {
        "loglik": (u, *cm._data_args(None)),
        "loglik_sums": (u, np.ones((30, 2)), *cm._data_args(None)),
        "logprior": (u,),
        "logprior_constrained": (u,),
        "logp_grad": (u, np.ones(30), *cm._data_args(None)),
        "constrain": (u,),
        "unconstrain": tuple(cm.constrain(u).values()),
    }
    assert set(args) == set(compiled.FUNCTIONS)
    assert set(compiled._graphs(cm)) == set(compiled.FUNCTIONS)  # precompile misses none
    for name in compiled.FUNCTIONS:
        fn = cm._functions[name]
        again = pickle.loads(pickle.dumps(fn))
        first, second = fn(*args[name]), again(*args[name])
        if not isinstance(first, list):
            first, second = [first], [second]
        assert len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            assert_array_equal(a, b)


def test_precompile_writes_every_function_once(model, cache_dir, monkeypatch):
    cm, _ = model
    monkeypatch.setattr(compiled, "COMPILED", compiled.LRUCache(maxsize=2))
    CompiledModel(cm.model).precompile()
    assert len(list(cache_dir.glob("*.pkl"))) == len(compiled.FUNCTIONS)


def test_an_entry_others_can_write_is_not_read(model, cache_dir, monkeypatch):
    cm, u = model
    _fresh(cm)["logprior"]
    (entry,) = cache_dir.glob("*.pkl")
    assert _function_cache._private(entry)  # the positive control: as written, it is read
    os.chmod(entry, 0o664)
    loaded = []
    real_load = pickle.load
    monkeypatch.setattr(pickle, "load", lambda fh: loaded.append(fh) or real_load(fh))
    _fresh(cm)["logprior"](u)
    assert loaded == []  # compiled again, the group-writable file untouched
    os.chmod(entry, 0o600)
    _fresh(cm)["logprior"](u)
    assert len(loaded) == 1


def test_a_torn_entry_is_compiled_again_and_replaced(model, cache_dir):
    cm, u = model
    expected = _fresh(cm)["logprior"](u)
    (entry,) = cache_dir.glob("*.pkl")
    entry.write_bytes(entry.read_bytes()[:100])
    assert_array_equal(_fresh(cm)["logprior"](u), expected)
    assert pickle.loads(entry.read_bytes())  # rewritten whole


def test_an_entry_of_other_sources_or_structure_is_another_file(model, cache_dir):
    cm, _ = model
    here = _function_cache.FunctionCache("bayes_unlearn.compiled")
    other = _function_cache.FunctionCache("bayes_unlearn.compiled", "bayes_unlearn._scatter")
    key = compiled._structure_key(cm)
    paths = {here._path(key, "loglik"), other._path(key, "loglik"), here._path(key, "logprior")}
    paths.add(here._path(key[::-1], "loglik"))
    assert len(paths) == 4


def test_the_cache_can_be_turned_off(model, cache_dir, monkeypatch):
    cm, u = model
    monkeypatch.setenv(_function_cache.ENV, "0")
    _fresh(cm)["logprior"](u)
    assert not cache_dir.exists()


def test_precompile_refuses_what_is_not_a_posterior():
    with pytest.raises(TypeError, match="'posterior' parameter of precompile"):
        bu.precompile("post.nc")

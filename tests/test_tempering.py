"""The tempering engine (bayes_unlearn._tempering): schedule and warm starts."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_unlearn._tempering import _next_temperature


def test_next_temperature_from_a_warm_start_finds_the_far_side():
    """A warm start's weights can make the ESS rise, then fall: the largest passing t wins."""
    L = np.random.default_rng(0).standard_normal(4000) * 20.0
    step = _next_temperature(L, 0.0, 2000.0)  # from equal weights
    assert 0 < step < 0.2
    # Particles of p_{0.5} (weights exp(0.5 L) from p_0): equal weights at t = 0.5.
    t = _next_temperature(L, 0.0, 2000.0, offset=0.5 * L)
    assert t == pytest.approx(0.5 + step, abs=1e-6)
    assert _next_temperature(L, 0.0, 4001.0, offset=0.5 * L) is None  # nothing passes


def test_final_chains_are_thinned_chain_by_chain_when_they_divide_the_draws():
    from bayes_unlearn._kernels import ChainsResult
    from bayes_unlearn._tempering import _kept

    n_chains, length, d = 4, 37, 2
    # State k of chain c is (c, k): where each kept draw came from is readable.
    states = np.stack(np.meshgrid(np.arange(n_chains), np.arange(length), indexing="ij"), -1)
    chains = ChainsResult(states.reshape(-1, d).astype(float), n_chains, length, 0.8, 7, 7.0)
    kept, starts = _kept(chains, 40, burn=5)
    # 10 states of each chain, in order, from the first after the burn-in to its last (states
    # thinned along all chains would start chain 1 at its state 6 and end chain 0 at 34).
    assert (kept[:, 0] == np.repeat(np.arange(n_chains), 10)).all()
    assert (kept[:, 1].reshape(n_chains, 10) == np.linspace(5, 36, 10).round()).all()
    assert (starts[:, 1] == 0).all() and (starts[:, 0] == kept[:, 0]).all()
    # 39 draws do not divide into 4 chains: thinned along all chains, starts still matching.
    kept, starts = _kept(chains, 39, burn=5)
    assert kept.shape == (39, d) and (starts[:, 0] == kept[:, 0]).all()
    assert (starts[:, 1] == 0).all() and (kept[:, 1] >= 5).all()

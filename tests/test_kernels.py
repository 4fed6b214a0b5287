"""Vectorized MCMC moves (_kernels.py): HMC chains leave their target invariant."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from bayes_unlearn._kernels import hmc_chains

D = 4


def _gaussian(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((D, D))
    cov = A @ A.T + np.eye(D)
    mean = np.arange(D, dtype=float)
    precision = np.linalg.inv(cov)

    def log_density_and_grad(Z):
        r = Z - mean
        return -0.5 * np.einsum("ij,jk,ik->i", r, precision, r), -(r @ precision)

    return mean, cov, log_density_and_grad


def test_hmc_chains_started_in_the_target_stay_in_it():
    """Chains from exact draws of a correlated Gaussian keep its mean and sd. Errors are
    judged against iid draws of the same count (HMC with a whitening mass matrix mixes in
    about one step): 4 sd of the mean, 4 sd of the sd estimate, over 20 repeats pooled."""
    mean, cov, target = _gaussian()
    chol = np.linalg.cholesky(cov)
    sd = np.sqrt(np.diag(cov))
    rng = np.random.default_rng(1)
    pooled_mean, pooled_sd = [], []
    for _ in range(20):
        starts = mean + rng.standard_normal((100, D)) @ chol.T
        chains = hmc_chains(starts, target, rng, length=20, step_size=0.6, cholesky=chol)
        assert chains.Z.shape == (2000, D) and chains.acceptance > 0.6
        pooled_mean.append((chains.Z.mean(axis=0) - mean) / sd)
        pooled_sd.append(chains.Z.std(axis=0) / sd - 1)
    n = 20 * 2000
    assert np.abs(np.mean(pooled_mean, axis=0)).max() < 4 / np.sqrt(n)
    assert np.abs(np.mean(pooled_sd, axis=0)).max() < 4 / np.sqrt(2 * n)


def test_chains_are_chain_major_and_extend_from_their_last_states():
    mean, cov, target = _gaussian()
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(2)
    starts = mean + rng.standard_normal((5, D)) @ chol.T
    first = hmc_chains(starts, target, rng, length=4, step_size=0.5, cholesky=chol)
    assert_allclose(first.Z[::4], starts)  # each chain begins at its start
    more = hmc_chains(first.last, target, rng, length=3, step_size=0.5, cholesky=chol)
    both = first.extended(more)
    assert both.length == 6 and both.Z.shape == (30, D)
    states = both.Z.reshape(5, 6, D)
    assert_allclose(states[:, :4], first.Z.reshape(5, 4, D))
    assert_allclose(states[:, 4:], more.Z.reshape(5, 3, D)[:, 1:])


def test_proposals_with_non_finite_density_are_rejected():
    def half_space(Z):  # log density -inf where x0 < 0
        inside = Z[:, 0] >= 0
        return np.where(inside, -0.5 * (Z**2).sum(axis=1), -np.inf), -Z

    rng = np.random.default_rng(3)
    starts = np.abs(rng.standard_normal((50, 2)))
    chains = hmc_chains(starts, half_space, rng, length=10, step_size=0.8, cholesky=np.eye(2))
    assert (chains.Z[:, 0] >= 0).all() and 0 < chains.acceptance < 1


def test_a_diverging_trajectory_is_rejected_without_warnings():
    """A trajectory whose gradient overflows (inf, then inf - inf = nan in the leapfrog) is
    a divergence: rejected like any non-finite proposal, with no RuntimeWarning from NumPy's
    arithmetic on it (the suite turns warnings into errors; a user would see a wall of them)."""

    def cliff(Z):  # a Gaussian whose gradient is infinite past x0 = 1
        past = Z[:, 0] > 1
        grad = np.where(past[:, None], np.inf, -Z)
        return np.where(past, -np.inf, -0.5 * (Z**2).sum(axis=1)), grad

    rng = np.random.default_rng(4)
    starts = rng.uniform(-1, 1, size=(50, 2))
    chol = np.array([[1.0, 0.0], [0.5, 1.0]])  # mixes the inf into both coordinates
    chains = hmc_chains(starts, cliff, rng, length=10, step_size=0.8, cholesky=chol)
    assert (chains.Z[:, 0] <= 1).all() and np.isfinite(chains.Z).all()
    assert 0 < chains.acceptance < 1


@pytest.mark.forks
def test_chains_split_over_processes_are_the_chains_run_here():
    """The noise is drawn here, so splitting the chains changes nothing but where they run."""
    from bayes_unlearn._forked import forked_pool
    from bayes_unlearn._kernels import hmc_trajectories, split_runner

    if sys.platform != "linux":
        pytest.skip("forks only on Linux")
    mean, cov, target = _gaussian()
    chol = np.linalg.cholesky(cov)
    starts = mean + np.random.default_rng(4).standard_normal((9, D)) @ chol.T

    def run_part(args, starts, noise, options):
        return hmc_trajectories(starts, target, noise, **options)

    here = hmc_chains(
        starts, target, np.random.default_rng(5), length=6, step_size=0.5, cholesky=chol
    )
    with forked_pool(run_part, 2) as pool:
        split = hmc_chains(
            starts,
            target,
            np.random.default_rng(5),
            length=6,
            step_size=0.5,
            cholesky=chol,
            run=split_runner(pool),
        )
    assert_allclose(split.Z, here.Z, rtol=0, atol=1e-12)
    assert split.acceptance == pytest.approx(here.acceptance, abs=1e-12)

"""Forked worker processes (_forked.py): results in order, failures surfaced or survived."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import threadpoolctl

from bayes_unlearn._forked import ForkedPool, default_cores, fork_unavailable, forked_pool
from tests.conftest import blas_threads

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="forks only on Linux"),
    pytest.mark.forks,
]


PARENT = os.getpid()


def _square(x):  # module level: sent to the children by name
    return x * x, os.getpid()


def test_jobs_run_in_the_children_and_come_back_in_order():
    offset = np.arange(3.0)  # inherited by the children, never pickled

    def shifted(x):
        return offset + x, os.getpid()

    with forked_pool(shifted, 3) as pool:
        assert pool.size == 3
        results = pool.map([(0.0,), (10.0,), (20.0,)])
        other = pool.map([(2,), (3,)], fn=_square)
        children = [p for p, _ in pool._children]
    expected = offset[None, :] + np.array([[0.0], [10.0], [20.0]])
    np.testing.assert_array_equal(np.array([r[0] for r in results]), expected)
    pids = [r[1] for r in results]
    assert pids[0] == PARENT and len(set(pids)) == 3
    assert [r[0] for r in other] == [4, 9] and other[1][1] == pids[1]
    assert not any(p.is_alive() for p in children)  # stopped on leaving the block


def test_an_error_in_a_child_is_raised_here():
    def fails_in_child(x):
        if os.getpid() != PARENT:
            raise ValueError(f"bad value {x}")
        return x

    with forked_pool(fails_in_child, 2) as pool:
        with pytest.raises(RuntimeError, match="ValueError: bad value 7"):
            pool.map([(1,), (7,)])
        assert pool.map([(1,)]) == [1]  # the child is still serving


def test_a_failure_here_leaves_no_reply_behind():
    def fails_here(x):
        if os.getpid() == PARENT and x < 0:
            raise ValueError("here")
        return x

    with forked_pool(fails_here, 2) as pool:
        with pytest.raises(ValueError, match="here"):
            pool.map([(-1,), (5,)])
        assert pool.map([(1,), (2,)]) == [1, 2]  # not the 5 left over


def test_a_child_that_dies_has_its_job_done_here():
    def dies_in_child(x):
        if os.getpid() != PARENT:
            os._exit(1)
        return 2 * x

    with forked_pool(dies_in_child, 2) as pool:
        with pytest.warns(RuntimeWarning, match="continues in this process"):
            assert pool.map([(1,), (2,)]) == [2, 4]
        assert pool.size == 1
        assert pool.map([(3,)]) == [6]


def test_no_children_for_one_core_or_where_fork_is_unsafe(monkeypatch):
    with forked_pool(_square, 1) as pool:
        assert pool is None
    monkeypatch.setitem(sys.modules, "jax", object())
    assert "JAX" in fork_unavailable()
    with forked_pool(_square, 2) as pool:
        assert pool is None
    assert 1 <= default_cores() <= 8


def test_work_kept_in_this_process_uses_at_most_its_cores_in_blas_threads(monkeypatch):
    with threadpoolctl.threadpool_limits(limits=2):  # as on a machine with two CPUs or more
        if blas_threads() < 2:
            pytest.skip("this BLAS runs one thread at most")
        with forked_pool(_square, 1) as pool:
            assert pool is None and blas_threads() == 1
        assert blas_threads() == 2  # given back after the block
        monkeypatch.setitem(sys.modules, "jax", object())  # no fork: two cores stay here
        with forked_pool(_square, 2) as pool:
            assert pool is None and blas_threads() == 2


def test_more_jobs_than_processes_are_refused():
    pool = ForkedPool(_square, 1)
    try:
        with pytest.raises(ValueError, match="3 jobs for a pool of 2"):
            pool.map([(1,), (2,), (3,)])
    finally:
        pool.close()

"""Sweeps over rows in blocks: the same numbers whatever the blocks, NumPy or Dask."""

from __future__ import annotations

import numpy as np
import pytest
import threadpoolctl
from numpy.testing import assert_allclose

import bayes_unlearn as bu
from bayes_unlearn import _rowwise
from bayes_unlearn._rowwise import map_over_rows, row_chunks, sum_over_rows
from tests.conftest import blas_threads


def _block_of(values):
    return lambda rows: values[:, rows]


@pytest.mark.parametrize("chunk_rows", [None, 1, 7, 50])
def test_sums_and_maps_cover_every_row_once(chunk_rows):
    values = np.random.default_rng(0).standard_normal((30, 50))
    with bu.set_options(chunk_rows=chunk_rows):
        total = sum_over_rows(lambda rows: values[:, rows].sum(axis=1), 50, 30, "test")
        joined = map_over_rows(_block_of(values), 50, 30, "test")
    assert_allclose(total, values.sum(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(joined, values)


def test_row_chunks_split_by_values():
    assert row_chunks(10, 4, chunk_rows=4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert row_chunks(0, 4) == [slice(0, 0)]


def test_dask_gives_the_numpy_numbers():
    values = np.random.default_rng(1).standard_normal((20, 33))
    with bu.set_options(chunk_rows=5):
        numpy_total = sum_over_rows(lambda rows: values[:, rows].sum(axis=1), 33, 20, "t")
        with bu.set_options(dask=True):
            dask_total = sum_over_rows(lambda rows: values[:, rows].sum(axis=1), 33, 20, "t")
            joined = map_over_rows(_block_of(values), 33, 20, "t")
    np.testing.assert_array_equal(dask_total, numpy_total)  # same blocks, same order
    np.testing.assert_array_equal(joined, values)


def test_running_out_of_memory_says_what_to_change():
    def block(rows):
        raise MemoryError

    with pytest.raises(
        MemoryError,
        match=r"blocks of 3 rows x 10 draws: set a smaller block "
        r"with bu.set_options\(chunk_rows=...\) or run on Dask",
    ):
        with bu.set_options(chunk_rows=3):
            sum_over_rows(block, 9, 10, "log-likelihood")


def test_runs_of_blocks_on_threads_and_dask_give_the_same_numbers(monkeypatch):
    values = np.random.default_rng(2).standard_normal((20, 53))
    with bu.set_options(chunk_rows=5, cores=8):  # threads, though the suite caps at one core
        one_task = sum_over_rows(lambda rows: values[:, rows].sum(axis=1), 53, 20, "t")
        monkeypatch.setattr(_rowwise, "TASK_VALUES", 2 * 5 * 20)  # two blocks a task
        assert len(_rowwise.row_tasks(53, 20)) == 6
        threaded = sum_over_rows(lambda rows: values[:, rows].sum(axis=1), 53, 20, "t")
        joined = map_over_rows(_block_of(values), 53, 20, "t")
        with bu.set_options(dask=True):
            on_dask = sum_over_rows(lambda rows: values[:, rows].sum(axis=1), 53, 20, "t")
    np.testing.assert_array_equal(on_dask, threaded)  # the same tasks, summed in the same order
    assert_allclose(threaded, one_task, rtol=1e-13)  # another grouping: another rounding
    np.testing.assert_array_equal(joined, values)


def test_blocks_on_threads_run_blas_on_one_thread_each(monkeypatch):
    """The pool's threads fill the cores; BLAS's own threads on top of them oversubscribe."""

    def threads_in(rows):
        return np.array([blas_threads()])

    with threadpoolctl.threadpool_limits(limits=2), bu.set_options(chunk_rows=5, cores=2):
        if blas_threads() < 2:
            pytest.skip("this BLAS runs one thread at most")
        alone = map_over_rows(threads_in, 53, 20, "t")  # one task: no pool
        monkeypatch.setattr(_rowwise, "TASK_VALUES", 5 * 20)  # one block a task: 11 tasks
        pooled = map_over_rows(threads_in, 53, 20, "t")
    np.testing.assert_array_equal(alone, 2)
    np.testing.assert_array_equal(pooled, 1)


def test_blocks_are_sized_by_values_unless_chunk_rows_is_set():
    assert _rowwise.row_blocks(25, 100, values=1000) == [slice(0, 10), slice(10, 20), slice(20, 25)]
    with bu.set_options(chunk_rows=20):
        assert _rowwise.row_blocks(25, 100, values=1000) == [slice(0, 20), slice(20, 25)]
    assert bu.PyMCModel.block_values > bu.LogisticRegression.block_values  # a call per block

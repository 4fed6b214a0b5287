"""Sweeps over training rows a block at a time: bounded memory, in NumPy or on Dask.

Every computation that touches all rows for all draws (a likelihood sum per draw, a score
per row) is written as a function of one block of rows and handed to :func:`sum_over_rows`
or :func:`map_over_rows`. Blocks hold about ``CHUNK_VALUES`` values (the
``chunk_rows`` option overrides it), small enough for a core's cache; runs of consecutive
blocks (about ``TASK_VALUES`` values) are the units of work, run side by side on threads or,
with the ``dask`` option, as Dask tasks on the active scheduler (a ``dask.distributed``
cluster included). Every block's result is combined in the same order either way, so both
give the same numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import threadpoolctl

from bayes_unlearn._forked import default_cores
from bayes_unlearn._progress import progress, wants_progress
from bayes_unlearn.options import get_options

__all__ = [
    "CHUNK_VALUES",
    "dask_tasks",
    "joined",
    "map_over_rows",
    "row_blocks",
    "row_chunks",
    "row_tasks",
    "sum_over_rows",
    "summed",
    "summed_log_likelihood",
]

#: Values of a (draws, rows) block computed at once: 1e5 (800 KB), so that a block and its
#: intermediates stay in a core's L2 cache through the dozen passes a cause score makes over
#: it. Measured on 50,000 rows x 4000 draws (2 cores, 1 MB L2 each): 2.0-2.3 s in blocks of
#: 25 rows, 3.4-3.7 s in blocks of 32-100, 4.6 s in blocks of 250 (1e6 values).
CHUNK_VALUES = 100_000

#: Values per unit of work (a run of consecutive blocks): a thread or a Dask task's share.
#: Tens of blocks per task keep the scheduling overhead (about 1 ms a task on a distributed
#: cluster) small beside the work.
TASK_VALUES = 10_000_000


def row_chunks(
    n_rows: int, n_draws: int, chunk_rows: int | None = None, values: int = CHUNK_VALUES
) -> list[slice]:
    """Slices of ``chunk_rows`` rows, or of rows whose (draws, rows) blocks hold about
    ``values`` values each."""
    size = chunk_rows if chunk_rows is not None else max(1, values // max(n_draws, 1))
    return [slice(i, min(i + size, n_rows)) for i in range(0, n_rows, size)] or [slice(0, 0)]


#: A sweep shows a progress bar only from this many blocks on (shorter ones take < 1 s).
MIN_BLOCKS_FOR_BAR = 8


def row_blocks(n_rows: int, n_draws: int, values: int = CHUNK_VALUES) -> list[slice]:
    """Blocks of rows, sized by the ``chunk_rows`` option or about ``values`` values each."""
    return row_chunks(n_rows, n_draws, get_options()["chunk_rows"], values)


def row_tasks(n_rows: int, n_draws: int, values: int = CHUNK_VALUES) -> list[list[slice]]:
    """:func:`row_blocks` grouped into runs of about ``TASK_VALUES`` values, in order."""
    blocks = row_blocks(n_rows, n_draws, values)
    size = max(blocks[0].stop - blocks[0].start, 1) * max(n_draws, 1)
    per_task = max(1, TASK_VALUES // size)
    return [blocks[i : i + per_task] for i in range(0, len(blocks), per_task)]


def sum_over_rows(
    block: Callable[[slice], np.ndarray],
    n_rows: int,
    n_draws: int,
    what: str,
    *,
    values: int = CHUNK_VALUES,
):
    """``Σ_blocks block(rows)``: e.g. a log-likelihood per draw summed over all rows.

    ``values`` sizes the blocks (a model's ``block_values``) unless ``chunk_rows`` is set.
    """
    return _evaluate(block, row_tasks(n_rows, n_draws, values), n_draws, what, summed)


def map_over_rows(
    block: Callable[[slice], np.ndarray],
    n_rows: int,
    n_draws: int,
    what: str,
    *,
    values: int = CHUNK_VALUES,
):
    """``block(rows)`` (shape ``(..., rows)``) for every block, joined along the last axis."""
    return _evaluate(block, row_tasks(n_rows, n_draws, values), n_draws, what, joined)


def summed(parts: list[np.ndarray]) -> np.ndarray:
    """Per-block results added in order: the ``combine`` of a sum."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def joined(parts: list[np.ndarray]) -> np.ndarray:
    """Per-block ``(..., rows)`` results side by side: the ``combine`` of a map."""
    return np.concatenate(parts, axis=-1)


def summed_log_likelihood(model, params: dict, X_std: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``Σ_i log p(y_i | x_i, θ_s)`` per draw, a block of rows at a time."""
    n_draws = len(next(iter(params.values())))

    def block(rows: slice) -> np.ndarray:
        return model.pointwise_log_likelihood(params, X_std[rows], y[rows]).sum(axis=1)

    return sum_over_rows(block, len(y), n_draws, "log-likelihood", values=model.block_values)


def _evaluate(block, tasks: list[list[slice]], n_draws: int, what: str, combine) -> np.ndarray:
    """``combine`` of every block's ``block(rows)``, in order: within each task (a run of
    blocks, so that only one result per task is kept), then over the tasks."""
    try:
        if get_options()["dask"]:
            import dask

            return combine(list(dask.compute(*dask_tasks(block, tasks, combine))))
        n_blocks = sum(map(len, tasks))
        show = n_blocks >= MIN_BLOCKS_FOR_BAR and wants_progress()
        with progress(f"{what} over rows", n_blocks, show=show) as bar:

            def one(rows: slice) -> np.ndarray:
                out = block(rows)
                bar.advance()
                return out

            def run(task: list[slice]) -> np.ndarray:
                return _call_blocks((one,), task, combine)

            if len(tasks) == 1 or threading.current_thread() is not threading.main_thread():
                return combine([run(task) for task in tasks])  # a sweep inside threads: serial
            # NumPy's ufuncs and BLAS release the GIL: tasks run side by side, on one BLAS
            # thread each (the pool fills the cores; BLAS's own threads on top made a sweep
            # of 50,000 rows 2.0x slower: benchmarks/results/blas_threads.md).
            with (
                ThreadPoolExecutor(min(len(tasks), default_cores())) as pool,
                threadpoolctl.threadpool_limits(limits=1),
            ):
                return combine(list(pool.map(run, tasks)))
    except MemoryError:
        size = max(rows.stop - rows.start for task in tasks for rows in task)
        raise MemoryError(
            f"Out of memory computing the {what} for blocks of {size:,} rows x {n_draws:,} "
            "draws: set a smaller block with bu.set_options(chunk_rows=...) or run on Dask "
            "with bu.set_options(dask=True)."
        ) from None


def dask_tasks(block: Callable[[slice], np.ndarray], tasks: list[list[slice]], combine) -> list:
    """One Dask task per run of blocks (``dask.delayed``): ``combine`` of its blocks' results.

    The block function (with the rows and draws it closes over) goes into the graph once, as
    a value every task depends on: inlined in each task, a distributed worker would unpickle
    one copy of the data per task (two workers reached 9 GB each at 10^6 rows).
    """
    import dask

    shared = dask.delayed((block,), traverse=False)
    run = dask.delayed(_call_blocks, pure=True)
    return [run(shared, task, combine) for task in tasks]


def _call_blocks(holder: tuple, task: list[slice], combine) -> np.ndarray:
    return combine([holder[0](rows) for rows in task])

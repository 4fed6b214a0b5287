"""Forked copies of this process that share a vectorized job, for functions that hold the GIL.

PyTensor's compiled functions hold the GIL while they run, so threads cannot evaluate them
side by side (the radon model's log density and gradient: 0.085 s on one thread, 0.090 s on
two). Processes can, and with the ``fork`` start method a child inherits the compiled
functions and the data already in memory (copy-on-write): nothing is compiled again and a
job travels as its arguments only. :func:`forked_pool` starts the children once for a
piece of work (an SMC run) and :meth:`ForkedPool.map` splits each job between this process
and them.

Forking is used only where it is safe: on Linux (macOS system libraries are not fork-safe),
outside daemonic processes (a multiprocessing pool's or Dask's workers, which may not start
children), and before JAX is imported (its thread pools do not survive a fork). Elsewhere,
or if a child dies, the work runs in this process: the results are the same, only slower.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence

import threadpoolctl

from bayes_unlearn.options import cores_limit

__all__ = ["ForkedPool", "default_cores", "fork_unavailable", "forked_pool"]


def default_cores() -> int:
    """The CPUs this process may run on, at most 8 and at most the ``cores`` option."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return cores_limit(min(available, 8))


def fork_unavailable() -> str | None:
    """Why this process must not fork workers, or None when it may."""
    if sys.platform != "linux":
        return f"forking is only used on Linux, not {sys.platform}"
    if multiprocessing.current_process().daemon:
        return "this is a daemonic process (a pool's or Dask's worker), which cannot start children"
    if "jax" in sys.modules:
        return "JAX is imported and its threads do not survive a fork"
    return None


class ForkedPool:
    """``fn`` in this process and ``n_children`` forked copies, one job part each.

    ``fn`` (and everything it uses) must exist before the pool is made: the children get it
    by inheritance, not by pickling. Job arguments and results are pickled.
    """

    def __init__(self, fn: Callable, n_children: int):
        self._fn = fn
        self._children: list[tuple[multiprocessing.Process, object]] = []
        context = multiprocessing.get_context("fork")
        for _ in range(n_children):
            here, there = context.Pipe()
            process = context.Process(target=_serve, args=(fn, there, here), daemon=True)
            process.start()
            there.close()
            self._children.append((process, here))

    @property
    def size(self) -> int:
        """Processes a job is split over (this one and the live children)."""
        return 1 + len(self._children)

    def map(self, jobs: Sequence[tuple], fn: Callable | None = None) -> list:
        """``[fn(*job) for job in jobs]``: the first here, the others in the children at once.

        ``fn`` defaults to the pool's own; another must be a module-level function (it is
        pickled by name). At most :attr:`size` jobs. An exception raised in a child is raised
        here; a child that died has its job run here and is dropped, with a warning.
        """
        own = fn is None
        fn = self._fn if own else fn
        if len(jobs) > self.size:
            raise ValueError(f"{len(jobs)} jobs for a pool of {self.size} processes")
        sent = []
        for (process, conn), job in zip(self._children, jobs[1:], strict=False):
            try:
                conn.send((None if own else fn, job))
                sent.append((process, conn, job, True))
            except (OSError, ValueError):
                sent.append((process, conn, job, False))
        try:
            results = [fn(*jobs[0])] if jobs else []
        except Exception:
            for _, conn, _, ok in sent:  # no reply may be left for the next job to read
                if ok:
                    _receive(conn)
            raise
        replies = [_receive(conn) if ok else None for _, conn, _, ok in sent]
        for (process, conn, job, _), reply in zip(sent, replies, strict=True):
            if reply is None:
                self._drop(process, conn)
                results.append(fn(*job))
            elif reply[0] == "error":
                raise RuntimeError(f"a worker process failed: {reply[1]}") from reply[2]
            else:
                results.append(reply[1])
        return results

    def _drop(self, process, conn) -> None:
        warnings.warn(
            f"A worker process (pid {process.pid}) stopped; its share of the work continues in "
            "this process.",
            RuntimeWarning,
            stacklevel=3,
        )
        self._children.remove((process, conn))
        _stop(process, conn)

    def close(self) -> None:
        """Stop the children (idempotent)."""
        while self._children:
            _stop(*self._children.pop())


@contextlib.contextmanager
def forked_pool(fn: Callable, cores: int) -> Iterator[ForkedPool | None]:
    """A :class:`ForkedPool` of ``cores`` processes in all for the ``with`` block, or None
    when ``cores`` is 1 or this process may not fork (:func:`fork_unavailable`); either way
    BLAS uses at most ``cores`` threads in the block."""
    if cores <= 1 or fork_unavailable() is not None:
        # The work runs here, on ``cores`` BLAS threads at most: with one core asked for,
        # OpenBLAS's second thread spinning beside another busy process made SMC on radon
        # 1.9-2.8x slower (benchmarks/results/blas_threads.md).
        with threadpoolctl.threadpool_limits(limits=cores):
            yield None
        return
    # One BLAS thread per process: the processes already fill the cores, and BLAS threads
    # spinning beside them made the radon chains 2x slower instead of 1.6x faster.
    with threadpoolctl.threadpool_limits(limits=1):
        pool = ForkedPool(fn, cores - 1)
        try:
            yield pool
        finally:
            pool.close()


def _receive(conn):
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


def _stop(process, conn) -> None:
    with contextlib.suppress(OSError, ValueError):
        conn.send(None)
    conn.close()
    process.join(timeout=1.0)
    if process.is_alive():
        process.terminate()
        process.join()


def _serve(fn, conn, parent_end) -> None:
    """A child's loop: run ``fn`` on each job received until None or the parent is gone."""
    parent_end.close()
    # Ctrl-C reaches the whole process group; the parent stops its children itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threadpoolctl.threadpool_limits(limits=1)
    while (message := _receive(conn)) is not None:
        other, job = message
        try:
            reply = ("ok", (other or fn)(*job))
        except Exception as exc:  # raised again in the parent
            reply = ("error", f"{type(exc).__name__}: {exc}", exc)
        try:
            conn.send(reply)
        except (OSError, ValueError):  # the parent is gone
            return
        except Exception:  # a reply that cannot be pickled (checked before anything is sent)
            conn.send(
                ("error", f"{reply[1] if reply[0] == 'error' else 'unpicklable result'}", None)
            )

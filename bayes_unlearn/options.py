"""Library-wide options: how rows are chunked, whether Dask runs the sweeps, progress bars,
how many cores one computation uses.

Set them for a block of code, as :func:`xarray.set_options` does::

    with bu.set_options(chunk_rows=100, dask=True):
        causes = bu.identify_causes(post, X_fail, y_fail)

or for the whole session with ``bu.set_options(progressbar=False)``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["CORES_ENV", "cores_limit", "get_options", "set_options"]

#: Environment variable that sets the ``cores`` option's starting value (worker pools, test
#: runs and the processes they start: notebook kernels, the command line).
CORES_ENV = "BAYES_UNLEARN_CORES"

_OPTIONS: dict[str, Any] = {"chunk_rows": None, "dask": False, "progressbar": True, "cores": None}


def _check_positive_int(name: str):
    def check(value) -> None:
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool)):
            raise TypeError(f"The {name!r} option must be a positive int or None. Got {value!r}.")
        if value is not None and value < 1:
            raise ValueError(f"The {name!r} option must be a positive int or None. Got {value}.")

    return check


def _check_bool(name: str):
    def check(value) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"The {name!r} option must be True or False. Got {value!r}.")

    return check


_VALIDATORS = {
    "chunk_rows": _check_positive_int("chunk_rows"),
    "dask": _check_bool("dask"),
    "progressbar": _check_bool("progressbar"),
    "cores": _check_positive_int("cores"),
}


class set_options:  # lower case: used as a function, like xarray.set_options
    """Set options globally, or for a ``with`` block.

    Parameters
    ----------
    chunk_rows : int or None, default None
        Training rows per block whenever log-likelihoods are evaluated over rows
        (reweighting, moment matching, SMC, refreshes, ``identify_causes``, PSIS-LOO,
        ``Posterior.log_likelihood``). None sizes blocks by the model's
        ``block_values``: about 10^5 values (800 KB, so that a block stays in a core's
        cache) for the built-in models, 10^6 for a user's PyMC model (a compiled call per
        block), so memory stays bounded whatever the number of rows.
    dask : bool, default False
        Run those sweeps as Dask tasks on the active Dask scheduler (threads by default; a
        ``dask.distributed`` cluster once a ``Client`` exists), one task per run of blocks
        (about 10^7 values). Needs ``pip install "bayes-unlearn[dask]"``; the blocks'
        results are combined in the NumPy path's order, so the numbers are the same.
    progressbar : bool, default True
        Show progress bars for long steps (likelihood sweeps over many blocks, SMC stages,
        refits) in a terminal or Jupyter; never in logs or captured output.
    cores : int or None, default None
        The most CPU cores one computation uses: MCMC chains sampled in parallel (``bu.fit``
        without ``cores``, refits), SMC's and refreshes' forked workers (or, where their
        chains stay in this process, BLAS's threads), and the threads that sweep rows (each
        on one BLAS thread). None: the CPUs this process may run on (at most 8 workers or
        threads).
        Results do not depend on it (chains are seeded one by one; blocks are combined in
        order). Lower it where the cores are busy anyway (many requests served side by side,
        a test suite on several workers): PyMC's chain processes pass every draw to the
        parent, so parallel chains spend more CPU for the same draws, and gain wall time only
        where a core would otherwise idle. The environment variable ``BAYES_UNLEARN_CORES``
        sets its starting value, for processes started by others (a worker pool, a notebook
        kernel, the command line).

    Examples
    --------
    >>> import bayes_unlearn as bu
    >>> with bu.set_options(chunk_rows=1000):
    ...     bu.get_options()["chunk_rows"]
    1000
    >>> bu.get_options()["chunk_rows"] is None
    True
    """

    def __init__(self, **options: Any) -> None:
        for name, value in options.items():
            if name not in _VALIDATORS:
                raise ValueError(f"Unknown option {name!r}; the options are {sorted(_VALIDATORS)}.")
            _VALIDATORS[name](value)
        if options.get("dask"):
            _require_dask()
        self._previous = {name: _OPTIONS[name] for name in options}
        _OPTIONS.update(options)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> None:
        _OPTIONS.update(self._previous)


def get_options() -> dict[str, Any]:
    """The current options (a copy): ``chunk_rows``, ``dask``, ``progressbar``, ``cores``."""
    return dict(_OPTIONS)


def cores_limit(available: int) -> int:
    """``available`` cores, at most the ``cores`` option (at least 1)."""
    limit = _OPTIONS["cores"]
    return max(1, min(available, limit) if limit is not None else available)


def _cores_from_environment() -> int | None:
    text = os.environ.get(CORES_ENV, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"The {CORES_ENV} environment variable must be a positive integer. Got {text!r}: "
            f"set it to e.g. 1, or unset it to use every CPU."
        )
    return value


def _require_dask() -> None:
    try:
        import dask.array  # noqa: F401
    except ImportError:
        raise ImportError(
            'The dask option needs Dask: pip install "bayes-unlearn[dask]".'
        ) from None


_OPTIONS["cores"] = _cores_from_environment()

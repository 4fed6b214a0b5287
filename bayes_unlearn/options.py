"""Library-wide options: how rows are chunked, whether Dask runs the sweeps, progress bars.

Set them for a block of code, as :func:`xarray.set_options` does::

    with bu.set_options(chunk_rows=100, dask=True):
        causes = bu.identify_causes(post, X_fail, y_fail)

or for the whole session with ``bu.set_options(progressbar=False)``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["get_options", "set_options"]

_OPTIONS: dict[str, Any] = {"chunk_rows": None, "dask": False, "progressbar": True}


def _check_chunk_rows(value) -> None:
    if value is not None and not (isinstance(value, int) and not isinstance(value, bool)):
        raise TypeError(f"The 'chunk_rows' option must be a positive int or None. Got {value!r}.")
    if value is not None and value < 1:
        raise ValueError(f"The 'chunk_rows' option must be a positive int or None. Got {value}.")


def _check_bool(name: str):
    def check(value) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"The {name!r} option must be True or False. Got {value!r}.")

    return check


_VALIDATORS = {
    "chunk_rows": _check_chunk_rows,
    "dask": _check_bool("dask"),
    "progressbar": _check_bool("progressbar"),
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
    """The current options (a copy): ``chunk_rows``, ``dask``, ``progressbar``."""
    return dict(_OPTIONS)


def _require_dask() -> None:
    try:
        import dask.array  # noqa: F401
    except ImportError:
        raise ImportError(
            'The dask option needs Dask: pip install "bayes-unlearn[dask]".'
        ) from None

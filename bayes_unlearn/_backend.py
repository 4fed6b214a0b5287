"""PyMC, imported with PyTensor's one-time BLAS probe kept out of the user's output.

PyTensor probes for a C BLAS to link the first time it compiles, and where it finds none
(pip installs: NumPy and SciPy ship OpenBLAS only under prefixed symbol names) it warns
that BLAS operations "will be severely degraded". For the models here the products still
run in NumPy's own OpenBLAS, through PyTensor's Python implementation of the op, so the
message is noise a user cannot act on; docs/architecture.md says so once, with how to link
a BLAS (conda, or MKL with ``PYTENSOR_FLAGS``). The probe runs under a scoped filter: the
caller's warning filters are left as they were.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings

_log = logging.getLogger(__name__)


@functools.cache
def pymc():
    """The ``pymc`` module, after PyTensor's BLAS probe has run quietly (once)."""
    import pytensor

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        ldflags = pytensor.config.blas__ldflags  # evaluated once, then cached by PyTensor
    if not ldflags:
        _log.debug("PyTensor links no C BLAS; products run through NumPy's BLAS instead.")
    import pymc

    return pymc


@contextlib.contextmanager
def quiet_compile():
    """Compile without PyTensor's INFO/WARNING notice that it uses NumPy for BLAS."""
    logger = logging.getLogger("pytensor.tensor.blas")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def is_pymc_model(obj) -> bool:
    """Whether ``obj`` is a ``pm.Model`` (without importing PyMC for anything else)."""
    return type(obj).__module__.startswith("pymc.") and isinstance(obj, pymc().Model)


def is_bambi_model(obj) -> bool:
    """Whether ``obj`` is a ``bambi.Model`` (without importing Bambi)."""
    return type(obj).__module__.startswith("bambi.") and type(obj).__name__ == "Model"


def bambi_pymc_model(model):
    """The PyMC model a Bambi model builds (building it if it has not been)."""
    if not is_bambi_model(model):
        raise TypeError(
            f"The 'model' parameter of from_bambi must be a bambi.Model. Got {type(model).__name__}."
        )
    if getattr(model, "backend", None) is None or getattr(model.backend, "model", None) is None:
        model.build()
    return model.backend.model

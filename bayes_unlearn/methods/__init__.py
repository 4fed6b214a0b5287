"""Forget methods, one module each with one entry function ``(posterior, rows, **options)``.

``reweight`` (importance weights), ``moment_match`` (importance weights on draws moved by
affine maps), ``smc`` (tempered SMC), ``refit`` (exact NUTS) and ``auto`` (the cheapest whose
diagnostics pass). :func:`bayes_unlearn.unlearn` validates the request
and dispatches here; every method builds on :mod:`bayes_unlearn._forget` (request record,
feature scaling) and returns a new :class:`~bayes_unlearn.posterior.Posterior`. To add a
method, add a module with its entry function and register it in ``METHODS``.
"""

from bayes_unlearn.methods.auto import auto as _auto
from bayes_unlearn.methods.moment_match import moment_match as _moment_match
from bayes_unlearn.methods.refit import refit as _refit
from bayes_unlearn.methods.reweight import reweight as _reweight
from bayes_unlearn.methods.smc import smc as _smc

#: The methods by name, as ``unlearn(method=...)`` takes them.
METHODS = {
    "auto": _auto,
    "reweight": _reweight,
    "moment_match": _moment_match,
    "smc": _smc,
    "refit": _refit,
}

__all__ = ["METHODS"]

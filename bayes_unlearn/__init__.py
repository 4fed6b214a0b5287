"""bayes-unlearn: forget training rows from a fitted model, and check it against a refit.

Importing the package is light: PyMC and ArviZ load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "fit": "bayes_unlearn.fitting",
    "from_pymc": "bayes_unlearn.fitting",
    "precompile": "bayes_unlearn.fitting",
    "from_bambi": "bayes_unlearn.bambi_fits",
    "to_bambi": "bayes_unlearn.bambi_fits",
    "unlearn": "bayes_unlearn.unlearning",
    "compare": "bayes_unlearn.comparison",
    "identify_causes": "bayes_unlearn.causes",
    "Causes": "bayes_unlearn.causes",
    "CauseDiagnostics": "bayes_unlearn.diagnostics",
    "UnreliableScoresWarning": "bayes_unlearn.diagnostics",
    "repair": "bayes_unlearn.repairing",
    "Repair": "bayes_unlearn.repairing",
    "report": "bayes_unlearn.reports",
    "evaluate_unlearning": "bayes_unlearn.numpy_models.metrics",
    "Comparison": "bayes_unlearn.comparison",
    "load": "bayes_unlearn.io",
    "save": "bayes_unlearn.io",
    "refresh": "bayes_unlearn.refreshing",
    "to_inference_data": "bayes_unlearn.export",
    "Posterior": "bayes_unlearn.posterior",
    "LogisticRegression": "bayes_unlearn.models",
    "PolynomialRegression": "bayes_unlearn.models",
    "PyMCModel": "bayes_unlearn.pymc_model",
    "BayesianModel": "bayes_unlearn.models",
    "UnlearningDiagnostics": "bayes_unlearn.diagnostics",
    "MCMCConvergenceWarning": "bayes_unlearn.diagnostics",
    "audit_erasure": "bayes_unlearn.audit",
    "ErasureAudit": "bayes_unlearn.audit",
    "UnreliableUnlearningWarning": "bayes_unlearn.diagnostics",
    "pareto_k_threshold": "bayes_unlearn.diagnostics",
    "set_options": "bayes_unlearn.options",
    "ForgetStream": "bayes_unlearn.stream",
    "Acknowledgement": "bayes_unlearn.stream",
    "get_options": "bayes_unlearn.options",
}
_SUBMODULES = ("datasets", "numpy_models")

__all__ = sorted([*_EXPORTS, *_SUBMODULES, "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from bayes_unlearn import datasets, numpy_models
    from bayes_unlearn.audit import ErasureAudit, audit_erasure
    from bayes_unlearn.bambi_fits import from_bambi, to_bambi
    from bayes_unlearn.causes import Causes, identify_causes
    from bayes_unlearn.comparison import Comparison, compare
    from bayes_unlearn.diagnostics import (
        CauseDiagnostics,
        MCMCConvergenceWarning,
        UnlearningDiagnostics,
        UnreliableScoresWarning,
        UnreliableUnlearningWarning,
        pareto_k_threshold,
    )
    from bayes_unlearn.export import to_inference_data
    from bayes_unlearn.fitting import fit, from_pymc, precompile
    from bayes_unlearn.io import load, save
    from bayes_unlearn.models import BayesianModel, LogisticRegression, PolynomialRegression
    from bayes_unlearn.numpy_models.metrics import evaluate_unlearning
    from bayes_unlearn.options import get_options, set_options
    from bayes_unlearn.posterior import Posterior
    from bayes_unlearn.pymc_model import PyMCModel
    from bayes_unlearn.refreshing import refresh
    from bayes_unlearn.repairing import Repair, repair
    from bayes_unlearn.reports import report
    from bayes_unlearn.stream import Acknowledgement, ForgetStream
    from bayes_unlearn.unlearning import unlearn


def __getattr__(name: str):
    if name == "ConvergenceWarning":  # deprecated alias; diagnostics warns
        from bayes_unlearn import diagnostics

        return diagnostics.ConvergenceWarning
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"bayes_unlearn.{name}")
    raise AttributeError(f"module 'bayes_unlearn' has no attribute {name!r}")


def __dir__():
    return __all__

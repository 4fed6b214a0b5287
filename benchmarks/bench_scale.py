"""How cost grows with the number of rows (first part of issue #14's scale benchmark).

Synthetic logistic regression, 8 standard-normal features, n = 10^3, 10^4, 10^5 rows,
4 chains x 500 draws (500 tuning). For each n: fit time, file size, save and load time,
reweighting 1% of the rows (the forget request that reads the most stored data per row),
and the peak of memory allocated (``tracemalloc``, which NumPy reports to) while loading
and reweighting (after one untimed round of every step on 200 rows, so imports and
compilation are not counted); then each cost's growth exponent in n (slope of log cost on
log n).
Not yet measured here: 10^6 rows, ``auto`` on 10%, ``identify_causes``, the request stream
and Dask (issue #14).

Run: ``python -m benchmarks.bench_scale`` (about 5 minutes on 2 cores). Writes
``benchmarks/results/scale.{json,md}``.
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from benchmarks._common import machine, markdown_table, write

SIZES = (1_000, 10_000, 100_000)
SAMPLER = {"draws": 500, "tune": 500, "chains": 4}


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _warm_up(folder: Path) -> None:
    """One small round of every step first, so that imports and compilation are not timed."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 8))
    y = (X[:, 0] > 0).astype(float)
    post = bu.fit(bu.LogisticRegression(), X, y, draws=50, tune=50, chains=2, random_seed=0)
    post.save(folder / "warm.nc")
    bu.unlearn(bu.load(folder / "warm.nc"), forget=[0, 1], method="reweight")


def run_size(n: int, folder: Path) -> dict:
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 8))
    y = (X @ np.linspace(-1.0, 1.0, 8) + rng.logistic(size=n) > 0).astype(float)
    post, fit_s = _timed(lambda: bu.fit(bu.LogisticRegression(), X, y, random_seed=1, **SAMPLER))
    path = folder / f"n{n}.nc"
    _, save_s = _timed(lambda: post.save(path))
    post = None  # only the file is used from here on
    tracemalloc.start()
    back, load_s = _timed(lambda: bu.load(path))
    forget = np.arange(0, n, 100)
    _, reweight_s = _timed(lambda: bu.unlearn(back, forget=forget, method="reweight"))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    row = {
        "rows": n,
        "fit s": fit_s,
        "file MB": path.stat().st_size / 1e6,
        "save s": save_s,
        "load s": load_s,
        "reweight 1% s": reweight_s,
        "peak MB (load + reweight)": peak / 1e6,
    }
    print(row, flush=True)
    return row


def main() -> None:
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        _warm_up(Path(tmp))
        rows = [run_size(n, Path(tmp)) for n in SIZES]
    table = pd.DataFrame(rows).set_index("rows")
    slopes = {
        col: float(np.polyfit(np.log(table.index), np.log(table[col]), 1)[0])
        for col in table.columns
    }
    info = machine()
    markdown = "\n".join(
        [
            "# Scale: cost against the number of rows",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}; PyMC {info['pymc']}.",
            __doc__.split("\n\n")[1].replace("\n", " "),
            "",
            markdown_table(table.round(3)),
            "",
            "Growth exponent in n (slope of log cost on log n): "
            + ", ".join(f"{k}: {v:.2f}" for k, v in slopes.items())
            + ".",
        ]
    )
    write("scale", {"machine": info, "rows": rows, "exponents": slopes}, markdown)


if __name__ == "__main__":
    main()

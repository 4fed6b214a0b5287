"""How cost grows with the number of rows (issue #14's scale benchmark).

Synthetic logistic regression, 8 standard-normal features, n = 10^3 ... 10^6 rows, 4 chains x
1000 draws (1000 tuning) by NumPyro's NUTS (the fastest sampler here; the 10^6 fit is run
once and cached in ``benchmarks/.cache``). For each n: fit time, file size, save and load
time, reweighting 1% of the rows, ``auto`` on 10%, ``identify_causes`` (``method="auto"``)
scoring all rows against 100 failure cases, the peak of memory allocated (``tracemalloc``,
which NumPy reports to) over load + the three requests (run again for it, untimed), and the
same reweighting and scores through Dask on a 2-worker ``LocalCluster`` (time and largest
difference from NumPy). Imports
and compilation are warmed up on 200 rows first. Then each cost's growth exponent in n (slope
of log cost on log n, 10^4 to 10^6: at 10^3 fixed costs dominate), the stream of one-row
requests on Pima, and cold/warm fit times of the four NUTS samplers.

Run: ``BAYES_UNLEARN_DATA=../shared/data python -m benchmarks.bench_scale`` (the stream and
the sampler timings use the 768-row Pima CSV; about 30 minutes on 2 cores, the cached 10^6 fit
aside; ``--sizes 1000 10000`` for a quick look). Writes ``benchmarks/results/scale.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from benchmarks._common import RESULTS, machine, markdown_table, write

SIZES = (1_000, 10_000, 100_000, 1_000_000)
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "nuts_sampler": "numpyro"}
#: Fits of at least this many rows are cached (file + fit time) and reused by later runs.
CACHE_FROM = 1_000_000
CACHE = Path(__file__).parent / ".cache"
N_FAILURES = 100
STREAM = {"requests": 500, "save_every": 100}


def synthetic(n: int, seed: int | None = None):
    rng = np.random.default_rng(n if seed is None else seed)
    X = rng.standard_normal((n, 8))
    y = (X @ np.linspace(-1.0, 1.0, 8) + rng.logistic(size=n) > 0).astype(float)
    return X, y


def failures():
    """Cases the model gets wrong: fresh rows with their labels flipped."""
    X, y = synthetic(N_FAILURES, seed=7)
    return X, 1.0 - y


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _fit(n: int, folder: Path):
    """The posterior for n rows and its fit time (from the cache for the largest n)."""
    cached, meta = CACHE / f"scale_n{n}.nc", CACHE / f"scale_n{n}.json"
    if n >= CACHE_FROM and cached.exists() and meta.exists():
        return bu.load(cached), json.loads(meta.read_text())["fit s"], "cached"
    X, y = synthetic(n)
    post, fit_s = _timed(lambda: bu.fit(bu.LogisticRegression(), X, y, random_seed=1, **SAMPLER))
    if n >= CACHE_FROM:
        CACHE.mkdir(exist_ok=True)
        bu.save(post, cached)
        meta.write_text(json.dumps({"fit s": fit_s, "sampler": SAMPLER}))
    return post, fit_s, "fitted now"


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _requests(post, X_f, y_f):
    n = post.row_ids.size
    un, reweight_s = _timed(
        lambda: _quiet(lambda: bu.unlearn(post, forget=np.arange(0, n, 100), method="reweight"))
    )
    causes, causes_s = _timed(
        lambda: _quiet(lambda: bu.identify_causes(post, X_f, y_f, random_seed=0))
    )
    return un, reweight_s, causes, causes_s


def _on_dask(post, X_f, y_f, un, causes) -> dict:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster),
        bu.set_options(dask=True),
    ):
        d_un, d_reweight_s, d_causes, d_causes_s = _requests(post, X_f, y_f)
    diff = max(
        float(np.max(np.abs(d_un.log_weights - un.log_weights))),
        float(np.max(np.abs(d_causes.table.sort_index()["r"] - causes.table.sort_index()["r"]))),
    )
    return {"dask reweight 1% s": d_reweight_s, "dask causes s": d_causes_s, "dask max diff": diff}


def run_size(n: int, folder: Path) -> dict:
    post, fit_s, how = _fit(n, folder)
    path = folder / f"n{n}.nc"
    _, save_s = _timed(lambda: bu.save(post, path))
    post = None  # only the file is used from here on
    X_f, y_f = failures()
    forget = np.random.default_rng(3).choice(n, size=n // 10, replace=False)

    def session():
        back, load_s = _timed(lambda: bu.load(path))
        un, reweight_s, causes, causes_s = _requests(back, X_f, y_f)
        auto, auto_s = _timed(lambda: _quiet(lambda: bu.unlearn(back, forget=forget)))
        return back, un, causes, auto, (load_s, reweight_s, causes_s, auto_s)

    back, un, causes, auto, (load_s, reweight_s, causes_s, auto_s) = session()
    # The peak memory of the same session run again, untimed: tracemalloc's hook on every
    # NumPy allocation takes the GIL, which would slow the threaded sweeps it measures.
    tracemalloc.start()
    session()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    row = {
        "rows": n,
        "fit s": fit_s,
        "fit": how,
        "file MB": path.stat().st_size / 1e6,
        "data MB": 9 * 8 * n / 1e6,
        "save s": save_s,
        "load s": load_s,
        "reweight 1% s": reweight_s,
        "auto 10% s": auto_s,
        "auto ran": auto.diagnostics.method,
        "causes s": causes_s,
        "causes ran": causes.diagnostics.method,
        "peak MB": peak / 1e6,
        **_on_dask(back, X_f, y_f, un, causes),
    }
    print(row, flush=True)
    return row


def stream_on_pima() -> dict:
    """One-row requests on Pima, applied one by one and saved every 100, against a refit."""
    df = bu.datasets.load_pima(impute=True)
    X, y = df.drop(columns="Outcome"), df["Outcome"].to_numpy()
    sampler = {k: v for k, v in SAMPLER.items() if k != "nuts_sampler"}
    post = bu.fit(bu.LogisticRegression(), X, y, random_seed=0, **sampler)
    order = np.random.default_rng(0).permutation(post.row_ids)[: STREAM["requests"]]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with bu.ForgetStream(
            post, Path(tmp) / "stream.nc", save_every=STREAM["save_every"], random_seed=1
        ) as stream:
            acks = [stream.forget([i]) for i in order]
        total = time.perf_counter() - start
    refits = [
        _quiet(lambda s=s: bu.unlearn(post, forget=order, method="refit", random_seed=s))
        for s in (10, 11, 12)
    ]
    final = bu.compare(stream.posterior, refits[0])
    floors = [bu.compare(r, refits[0]) for r in refits[1:]]
    floor_smd = float(np.mean([f.max_abs_smd for f in floors]))
    floor_sd = float(np.mean([f.max_abs_log_sd_ratio for f in floors]))
    methods = pd.Series([a.method for a in acks]).value_counts().to_dict()
    plain = [a.seconds for a in acks if a.method == "reweight" and not a.saved]
    return {
        "rows": int(post.row_ids.size),
        "requests": len(acks),
        "save_every": STREAM["save_every"],
        "seconds": total,
        "requests per s": len(acks) / total,
        "median reweight request ms": 1e3 * float(np.median(plain)),
        "save s (median)": float(np.median([a.seconds for a in acks if a.saved])),
        "how applied": methods,
        "all reliable": bool(all(a.reliable for a in acks)),
        "worst SMD": final.max_abs_smd,
        "floor SMD": floor_smd,
        "|log sd ratio|": final.max_abs_log_sd_ratio,
        "floor |log sd ratio|": floor_sd,
    }


_SAMPLER_SCRIPT = """
import sys, time, warnings, json
warnings.simplefilter("ignore")
import bayes_unlearn as bu
from benchmarks.bench_scale import synthetic, SAMPLER
data, sampler, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
if data == "pima":
    df = bu.datasets.load_pima(impute=True)
    X, y = df.drop(columns="Outcome"), df["Outcome"].to_numpy()
else:
    X, y = synthetic(int(data))
opts = {**SAMPLER, "nuts_sampler": sampler}
times = []
for _ in range(repeats):
    start = time.perf_counter()
    bu.fit(bu.LogisticRegression(), X, y, random_seed=1, **opts)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def sampler_times(plan) -> list[dict]:
    """Cold (first fit in a fresh process: imports, compilation) and warm (the second) times."""
    rows = []
    today = machine()["date"]
    for data, sampler, repeats in plan:
        out = subprocess.run(
            [sys.executable, "-c", _SAMPLER_SCRIPT, data, sampler, str(repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
        times = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(
            {
                "data": "Pima" if data == "pima" else f"synthetic {int(data):,} rows",
                "sampler": sampler,
                "cold s": times[0],
                "warm s": times[1] if len(times) > 1 else float("nan"),
                "measured": today,
            }
        )
        print(rows[-1], flush=True)
    return rows


#: Every sampler cold and warm, on Pima and on 10^5 synthetic rows (about 45 minutes here).
SAMPLER_PLAN = tuple(
    (data, sampler, 2)
    for data in ("pima", "100000")
    for sampler in ("pymc", "nutpie", "numpyro", "blackjax")
)

COSTS = [
    "fit s",
    "file MB",
    "save s",
    "load s",
    "reweight 1% s",
    "auto 10% s",
    "causes s",
    "peak MB",
]


def _plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for col in COSTS:
        ax.loglog(table.index, table[col], marker="o", label=col)
    n = np.array(table.index, dtype=float)
    ax.loglog(n, table["causes s"].iloc[-1] * n / n[-1], "k:", label="slope 1")
    ax.set_xlabel("training rows n")
    ax.set_ylabel("cost (seconds or MB)")
    ax.set_title("bayes-unlearn: cost against rows (4 x 1000 draws)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _warm_up(folder: Path) -> None:
    X, y = synthetic(200)
    post = bu.fit(bu.LogisticRegression(), X, y, draws=50, tune=50, chains=2, random_seed=0)
    bu.save(post, folder / "warm.nc")
    back = bu.load(folder / "warm.nc")
    X_f, y_f = failures()
    _quiet(lambda: bu.unlearn(back, forget=[0, 1], method="reweight"))
    _quiet(lambda: bu.identify_causes(back, X_f, y_f, method="reweight"))


def _check_data() -> None:
    if len(bu.datasets.load_pima()) != 768:
        raise SystemExit(
            "Point BAYES_UNLEARN_DATA at the directory of pima-indians-diabetes.csv (768 rows); "
            "the offline default (MASS, 532 rows) is another data set."
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("rows", "samplers"),
        default=["rows", "samplers"],
        help="what to measure; the other part is kept from the previous run (scale.json)",
    )
    parser.add_argument(
        "--samplers",
        nargs="+",
        metavar="DATA:SAMPLER",
        help="only these sampler timings (e.g. pima:blackjax 100000:nutpie), merged into the "
        "previous table",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from scale.json"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report(json.loads((RESULTS / "scale.json").read_text()))
        return
    _check_data()
    warnings.simplefilter("ignore")
    keep = len(args.parts) < 2 or args.samplers  # something of the previous run is kept
    previous = json.loads((RESULTS / "scale.json").read_text()) if keep else {}
    payload = {"machine": machine(), **{k: previous.get(k) for k in ("rows", "stream")}}
    if "rows" in args.parts:
        with tempfile.TemporaryDirectory() as tmp:
            _warm_up(Path(tmp))
            payload["rows"] = [run_size(n, Path(tmp)) for n in args.sizes]
        payload["stream"] = stream_on_pima()
        print(payload["stream"], flush=True)
    else:
        payload["machine"] = previous["machine"]  # the rows' machine and date
    payload["samplers"] = previous.get("samplers", [])
    if "samplers" in args.parts:
        plan = SAMPLER_PLAN
        if args.samplers:
            wanted = [tuple(entry.split(":")) for entry in args.samplers]
            plan = tuple(step for step in SAMPLER_PLAN if step[:2] in wanted)
        payload["samplers"] = _merged(payload["samplers"], sampler_times(plan))
    report(payload)


def _merged(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` sampler rows with those measured again replaced by ``new``, in plan order."""
    key = {(row["data"], row["sampler"]): row for row in old}
    key.update({(row["data"], row["sampler"]): row for row in new})
    order = [
        ("Pima" if data == "pima" else f"synthetic {int(data):,} rows", sampler)
        for data, sampler, _ in SAMPLER_PLAN
    ]
    return [key[k] for k in order if k in key]


def report(payload: dict) -> None:
    """Exponents, plot and tables from the measurements (``--report-only`` reads them back)."""
    table = pd.DataFrame(payload["rows"]).set_index("rows")
    fit_range = table[table.index >= 10_000] if (table.index >= 10_000).sum() >= 2 else table
    slopes = {
        col: float(np.polyfit(np.log(fit_range.index), np.log(fit_range[col]), 1)[0])
        for col in COSTS
    }
    _plot(table, RESULTS / "scale.png")
    info, stream, samplers = payload["machine"], payload["stream"], payload["samplers"]
    shown = table.select_dtypes("number").drop(columns="dask max diff").round(3)
    shown["dask max diff"] = table["dask max diff"].map("{:.1e}".format)
    cached = table.index[table["fit"] == "cached"]
    lines = [
        "# Scale: cost against the number of rows",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}; PyMC {info['pymc']}.",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        markdown_table(shown.join(table[["fit", "auto ran", "causes ran"]])),
        "",
        "Growth exponent in n (slope of log cost on log n over "
        f"{int(fit_range.index.min()):,}-{int(fit_range.index.max()):,} rows): "
        + ", ".join(f"{k}: {v:.2f}" for k, v in slopes.items())
        + ". Plot: `scale.png`."
        + (
            f" The cached fit ({', '.join(f'{n:,}' for n in cached)} rows) ran once while other"
            " work shared the two cores: its time is an upper bound."
            if len(cached)
            else ""
        ),
        "",
        f"## Stream of one-row requests (Pima, {stream['rows']} rows)",
        "",
        f"{stream['requests']} requests (Pima has {stream['rows']} rows: 1000 distinct one-row "
        f"requests do not exist), saved every {stream['save_every']}: {stream['seconds']:.1f} s, "
        f"{stream['requests per s']:.1f} requests/s; a request that reweighting carries takes "
        f"{stream['median reweight request ms']:.0f} ms (median), a save "
        f"{stream['save s (median)']:.1f} s. Applied as: {stream['how applied']}; all reliable: "
        f"{stream['all reliable']}. Final posterior against a refit of what remains: worst SMD "
        f"{stream['worst SMD']:.3f} (refit-vs-refit floor {stream['floor SMD']:.3f}), "
        f"|log sd ratio| {stream['|log sd ratio|']:.3f} (floor "
        f"{stream['floor |log sd ratio|']:.3f}); floor = mean over two more refits.",
    ]
    if samplers:
        lines += [
            "",
            "## Samplers: cold (fresh process) and warm (second fit) wall time, 4 x 1000 draws",
            "",
            markdown_table(pd.DataFrame(samplers).set_index("data").round(1)),
            "",
            "Warm = a second fit in the same process (compiled code reused). PyMC, nutpie and "
            "NumPyro run through ``pm.sample``; BlackJAX through ``bayes_unlearn._blackjax`` "
            "(PyMC 5.28's BlackJAX path does not run with BlackJAX 1.7), chains one after "
            "another.",
        ]
    write("scale", {**payload, "exponents": slopes}, "\n".join(lines))


if __name__ == "__main__":
    main()

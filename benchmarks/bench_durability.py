"""Durability of acknowledged erasures: concurrent writers, SIGKILL at every phase, request cost.

Three measurements on Pima's logistic model (4 x 1000 draws):

1. **Concurrent writers.** Trials of 2-4 processes started together on one file, each
   forgetting its own rows: half through ``bayes-unlearn forget --in-place``, half through a
   :class:`~bayes_unlearn.ForgetStream` each. Counted: acknowledged requests missing from
   the file afterwards (with its journal applied by ``bu.load``), files that do not load.
2. **SIGKILL.** A stream (``save_every=4``) is killed at a chosen phase of a request: while
   it waits for the lock and validates the rows (``request``), while its journal line is
   written (``journal``), while the request is applied (``apply``) or while the file is
   saved (``save``), after a random number of acknowledgements and a random delay inside
   the phase. Counted as above.
3. **Cost of a one-row request** through a stream, with the journal (a file) and without a
   file (nothing durable: the cost of the same request before the journal existed), medians
   over the requests that reweighting carried.

Every process is forked from this one after the imports, so a trial costs its work, not
PyMC's import. Positive controls: the suite's tests of the same properties fail with the lock
or the journal removed (tests/test_journal.py).

Run: ``BAYES_UNLEARN_DATA=../shared/data python -m benchmarks.bench_durability``.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import bayes_unlearn as bu
from bayes_unlearn import journal
from bayes_unlearn.cli import main as cli
from benchmarks._common import machine, write

CONCURRENT_TRIALS = int(os.environ.get("BENCH_CONCURRENT_TRIALS", 24))
KILL_TRIALS = int(os.environ.get("BENCH_KILL_TRIALS", 60))
PHASES = ("request", "journal", "apply", "save")
ROWS_PER_WRITER = 3


def _fit(tmp: Path) -> Path:
    df = bu.datasets.load_pima(impute=True)
    X, y = df.drop(columns="Outcome"), df["Outcome"].to_numpy()
    post = bu.fit(bu.LogisticRegression(), X, y, random_seed=0, progressbar=False)
    path = tmp / "fit.nc"
    bu.save(post, path)
    return path


def _drain(queue) -> list:
    """Everything a (possibly killed) process put on the queue."""
    import queue as queues

    items = []
    while True:
        try:
            items.append(queue.get(timeout=0.5))
        except queues.Empty:
            return items


# --- 1. concurrent writers -----------------------------------------------------------


def _writer(kind, path, rows, barrier, out):
    warnings.simplefilter("ignore")
    barrier.wait()
    if kind == "cli":
        text = ",".join(map(str, rows))
        code = cli(["forget", str(path), "--rows", text, "--in-place", "--method", "reweight"])
        out.put((tuple(rows), code in (0, 3)))  # 3: saved, reweighting's ESS check failed
    else:
        stream = bu.ForgetStream(bu.load(path), path, save_every=100, random_seed=0)
        for i in rows:
            stream.forget([i])
            out.put(((i,), True))
        stream.save()


def concurrent_trials(base: Path, tmp: Path, rng) -> dict:
    ctx = multiprocessing.get_context("fork")
    lost = unloadable = acked = 0
    seconds = []
    for trial in range(CONCURRENT_TRIALS):
        n = int(rng.integers(2, 5))
        kind = "cli" if trial % 2 == 0 else "stream"
        path = tmp / f"concurrent{trial}.nc"
        shutil.copy(base, path)
        barrier, out = ctx.Barrier(n), ctx.Queue()
        rows = rng.permutation(768)[: n * ROWS_PER_WRITER].reshape(n, ROWS_PER_WRITER)
        procs = [
            ctx.Process(target=_writer, args=(kind, path, r.tolist(), barrier, out)) for r in rows
        ]
        start = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join(600)
        seconds.append(time.perf_counter() - start)
        done = [i for ids, ok in _drain(out) if ok for i in ids]
        acked += len(done)
        try:
            forgotten = set(bu.load(path).forgotten_row_ids.tolist())
        except Exception:
            unloadable += 1
            continue
        lost += len(set(done) - forgotten)
        print(f"concurrent {trial}: {n} {kind} writers, {len(done)} acknowledged", flush=True)
    return {
        "trials": CONCURRENT_TRIALS,
        "writers per trial": "2-4",
        "acknowledged requests": acked,
        "lost": lost,
        "files that did not load": unloadable,
        "median trial s": float(np.median(seconds)),
    }


# --- 2. SIGKILL at every phase -------------------------------------------------------


def _instrument(phases):
    """Report entering each phase (so the parent can kill inside it)."""
    append, save, apply = journal.append, bu.Posterior.save, bu.ForgetStream._apply

    def in_journal(*args, **kwargs):
        phases.put("journal")
        return append(*args, **kwargs)

    def in_apply(self, *args, **kwargs):
        phases.put("apply")
        return apply(self, *args, **kwargs)

    def in_save(self, *args, **kwargs):
        phases.put("save")
        return save(self, *args, **kwargs)

    journal.append = in_journal
    bu.Posterior.save = in_save
    bu.ForgetStream._apply = in_apply


def _stream_until_killed(path, rows, phases, acks):
    warnings.simplefilter("ignore")
    stream = bu.ForgetStream(bu.load(path), path, save_every=4, random_seed=0)
    _instrument(phases)
    for i in rows:
        phases.put("request")
        stream.forget([i])
        acks.put(i)
    phases.put("done")
    time.sleep(600)


def kill_trials(base: Path, tmp: Path, rng) -> dict:
    ctx = multiprocessing.get_context("fork")
    lost = unloadable = acked = 0
    killed_in = {p: 0 for p in PHASES}
    for trial in range(KILL_TRIALS):
        target = PHASES[trial % len(PHASES)]
        nth = int(rng.integers(1, 5))  # the nth time the stream enters that phase
        delay = float(
            rng.uniform(
                0, {"request": 0.002, "journal": 0.003, "apply": 0.003, "save": 0.3}[target]
            )
        )
        path = tmp / f"kill{trial}.nc"
        shutil.copy(base, path)
        phases, acks = ctx.Queue(), ctx.Queue()
        rows = rng.permutation(768)[:40].tolist()
        proc = ctx.Process(target=_stream_until_killed, args=(path, rows, phases, acks))
        proc.start()
        seen = 0
        while True:
            phase = phases.get(timeout=300)
            seen += phase == target
            if phase == "done" or seen == nth:
                break
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(30)
        last = phase
        while not phases.empty():
            last = phases.get()
        killed_in[last if last in PHASES else "request"] += 1
        done = _drain(acks)
        acked += len(done)
        try:
            forgotten = set(bu.load(path).forgotten_row_ids.tolist())
        except Exception as err:
            print(f"kill {trial}: does not load: {err}", flush=True)
            unloadable += 1
            continue
        lost += len(set(done) - forgotten)
        print(f"kill {trial}: in {last}, {len(done)} acknowledged", flush=True)
    return {
        "trials": KILL_TRIALS,
        "killed in phase": killed_in,
        "acknowledged requests": acked,
        "lost": lost,
        "files that did not load": unloadable,
    }


# --- 3. cost of a one-row request ----------------------------------------------------


def request_cost(base: Path, tmp: Path) -> dict:
    post = bu.load(base)
    order = np.random.default_rng(1).permutation(post.row_ids)[:99]
    out = {}
    for label, path in (("no file (not durable)", None), ("journal", tmp / "cost.nc")):
        stream = bu.ForgetStream(post, path, save_every=100, random_seed=1)
        acks = [stream.forget([i]) for i in order]
        plain = [a.seconds for a in acks if a.method == "reweight"]
        out[label] = {
            "median ms": 1e3 * float(np.median(plain)),
            "90th percentile ms": 1e3 * float(np.percentile(plain, 90)),
            "requests timed": len(plain),
        }
    return out


def main(argv=None) -> None:
    import argparse
    import json

    from benchmarks._common import RESULTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["cost", "concurrent", "sigkill"],
        default=["cost", "concurrent", "sigkill"],
        help="what to measure now; the others are kept from the last results file",
    )
    parts = parser.parse_args(argv).parts
    warnings.simplefilter("ignore")
    previous = RESULTS / "durability.json"
    payload = json.loads(previous.read_text()) if previous.exists() else {}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="bench-durability-") as tmp:
        tmp = Path(tmp)
        base = _fit(tmp)
        if "cost" in parts:
            payload["cost"] = request_cost(base, tmp)
            print(payload["cost"], flush=True)
        if "concurrent" in parts:
            payload["concurrent"] = concurrent_trials(base, tmp, rng)
        if "sigkill" in parts:
            payload["sigkill"] = kill_trials(base, tmp, rng)
    payload["machine"] = machine()
    (RESULTS / "durability.json").write_text(json.dumps(payload, indent=2) + "\n")
    if not {"cost", "concurrent", "sigkill"} <= set(payload):
        return  # the markdown needs all three parts
    cost, concurrent, kills = payload["cost"], payload["concurrent"], payload["sigkill"]
    m = payload["machine"]
    cost_rows = "\n".join(
        f"| {label} | {c['median ms']:.1f} | {c['90th percentile ms']:.1f} | {c['requests timed']} |"
        for label, c in cost.items()
    )
    md = f"""# Durability of acknowledged erasures

Pima, logistic model, 4 x 1000 draws; {m["cpu"]}, {m["cores"]} cores, {m["date"]}
(`python -m benchmarks.bench_durability`).

## Concurrent writers

{concurrent["trials"]} trials of 2-4 processes started together on one file (alternately
`forget --in-place` and one `ForgetStream` each): {concurrent["acknowledged requests"]}
requests acknowledged, **{concurrent["lost"]} lost**, {concurrent["files that did not load"]}
files that did not load; median trial {concurrent["median trial s"]:.1f} s.

## SIGKILL

{kills["trials"]} streams (`save_every=4`) killed inside a phase of a request (phase at the
kill: {kills["killed in phase"]}): {kills["acknowledged requests"]} requests acknowledged
before the kills, **{kills["lost"]} lost**, {kills["files that did not load"]} files that did
not load (each opened with `bu.load`, which applies the journal).

## One-row request through a stream

| stream | median ms | 90th percentile ms | requests |
|---|---|---|---|
{cost_rows}

Requests that reweighting carried (the others refresh or climb the ladder); the journal's
cost is its fsync, which depends on the disk."""
    write("durability", payload, md)


if __name__ == "__main__":
    main()

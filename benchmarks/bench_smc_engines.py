"""Which engine moves a user's model in SMC: ours (PyTensor) or BlackJAX's tempered SMC (JAX).

The radon varying-slopes model (``bayes_unlearn.example_models``, 175 unconstrained
parameters, 919 homes, 4 chains x 1000 draws), two forget requests (the largest county; 10%
of homes at random). Both engines temper from the stored posterior towards the one without
the rows, from the same 4000 particles, with HMC moves whose mass matrix is the inverse of
the particles' covariance:

* **ours**: ``bu.unlearn(method="smc")``: waste-free HMC (Dau and Chopin 2022) on the compiled
  PyTensor log density and gradient, vectorized over particles, step size retuned per stage,
  ESS 0.2 per stage, final chains extended until their bulk and tail ESS reach 1000; in one
  process (``cores=1``) and with the chains split over two forked processes (the default
  here), which give the same draws;
* **BlackJAX** ``adaptive_tempered_smc`` (BlackJAX 1.7) with its HMC kernel over PyMC's
  JAX-compiled log densities (``pymc.sampling.jax.get_jaxified_graph``; PyMC's
  ``get_jaxified_logp(negative_logp=True)`` is the one that returns +log p), ``jax.vmap``
  over particles, ESS 0.5 per stage, the mass matrix and step size fixed (ours' tuned
  values), 6 leapfrog steps, ``K`` HMC moves per particle per stage.

For each: wall time (BlackJAX: after JIT compilation, which is reported apart), stages,
gradient evaluations per particle, and the worst standardized mean difference and |log sd
ratio| against an exact refit, beside a second refit (the noise floor).

Run: ``python -m benchmarks.bench_smc_engines`` (about 5 minutes on 2 cores). Needs the
``jax`` and ``examples`` extras. Writes ``benchmarks/results/smc_engines.{json,md}``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

import bayes_unlearn as bu
from bayes_unlearn.example_models import radon_varying_slopes
from benchmarks._common import machine, markdown_table, write
from benchmarks.bench_hierarchical import SAMPLER, forget_sets

LEAPFROG = 6
STEP_SIZE = 0.25  # in whitened units, where ours settles on this model
MOVES = (1, 3)


def _jax_densities(post, forget):
    """Flat-vector log p(θ | D) and log p(D_e | θ) for JAX, checked against the compiled path."""
    import jax.numpy as jnp
    from pymc.sampling.jax import get_jaxified_graph

    cm = post.compiled()
    X, y = post.training_data()
    mask = np.isin(post.row_ids, forget)

    def jaxified(model, output):
        fn = get_jaxified_graph(inputs=model.value_vars, outputs=[output])

        def flat(u):
            return fn(*[u[b.start : b.start + b.size].reshape(b.shape) for b in cm.blocks])[0]

        return flat

    full = cm.model
    removed_model = radon_varying_slopes(X[mask], y[mask])
    removed = removed_model.replace_rvs_by_values([removed_model.observedlogp])[0]
    log_posterior = jaxified(full, full.logp())
    log_removed = jaxified(removed_model, removed)
    u0 = cm.unconstrain(post.params)[:3]
    expected = cm.log_density_and_grad(u0)[0]
    got = np.array([float(log_posterior(jnp.asarray(u))) for u in u0])
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    return log_posterior, log_removed, cm


def blackjax_smc(post, forget, moves, seed, template):
    import blackjax
    import jax
    import jax.numpy as jnp
    from blackjax.smc import extend_params, resampling

    log_posterior, log_removed, cm = _jax_densities(post, forget)
    U = cm.unconstrain(post.params)
    algorithm = blackjax.adaptive_tempered_smc(
        log_posterior,
        lambda u: -log_removed(u),  # tempering p(D_e | θ)^(-t) in
        blackjax.hmc.build_kernel(),
        blackjax.hmc.init,
        extend_params(
            {
                "step_size": STEP_SIZE,
                "inverse_mass_matrix": jnp.asarray(np.cov(U, rowvar=False)),
                "num_integration_steps": LEAPFROG,
            }
        ),
        resampling.systematic,
        target_ess=0.5,
        num_mcmc_steps=moves,
    )
    step = jax.jit(algorithm.step)
    key = jax.random.PRNGKey(seed)
    state = algorithm.init(jnp.asarray(U))
    start = time.perf_counter()
    key, sub = jax.random.split(key)
    jax.block_until_ready(step(sub, state))  # compile once (not counted below)
    compile_seconds = time.perf_counter() - start
    start, stages, acceptance = time.perf_counter(), 0, []
    while float(state.tempering_param) < 1.0 and stages < 100:
        key, sub = jax.random.split(key)
        state, info = step(sub, state)
        stages += 1
        acceptance.append(float(np.mean(info.update_info.acceptance_rate)))
    jax.block_until_ready(state)
    seconds = time.perf_counter() - start
    Z = np.asarray(state.particles)
    return _as_posterior(template, cm, Z), seconds, compile_seconds, stages, acceptance


def _as_posterior(template, cm, Z):
    """Particles ``Z`` in the layout of ``template`` (equally weighted, same rows)."""
    import dataclasses

    import xarray as xr

    constrained = cm.constrain(Z)
    posterior = template.idata.posterior
    data = {
        name: xr.DataArray(
            constrained[name].reshape(posterior[name].shape),
            dims=posterior[name].dims,
            coords=posterior[name].coords,
        )
        for name in cm.names
    }
    idata = template.idata.copy()
    idata.posterior = posterior.assign(data)
    return dataclasses.replace(template, idata=idata)


def _ours(post, forget, ref, base, cores):
    start = time.perf_counter()
    ours = bu.unlearn(post, forget=forget, method="smc", random_seed=2, cores=cores)
    seconds = time.perf_counter() - start
    c = bu.compare(ours, ref)
    d = ours.diagnostics
    return ours, {
        **base,
        "engine": f"ours (PyTensor, waste-free HMC), {cores} process{'es' if cores > 1 else ''}",
        "seconds": seconds,
        "compile seconds": 0.0,
        "stages": d.stages,
        "gradients / particle": d.details["gradient_sweeps"],
        "final acceptance": d.acceptance,
        "max |SMD|": c.max_abs_smd,
        "max |log sd ratio|": c.max_abs_log_sd_ratio,
    }


def main() -> None:
    warnings.simplefilter("ignore")
    df = bu.datasets.load_radon()
    X = df[["county", "floor"]].to_numpy(dtype=float)
    post = bu.fit(
        bu.PyMCModel(radon_varying_slopes), X, df["log_radon"].to_numpy(), random_seed=0, **SAMPLER
    )
    rows, cases = [], []
    sets = forget_sets(df)
    # Compiled once before timing (BlackJAX's compilation is reported apart).
    bu.unlearn(post, forget=sets["10% random homes"][:5], method="smc", random_seed=1, cores=1)
    # Ours first: once JAX is imported, ours no longer forks (its threads do not survive a fork).
    for label, forget in list(sets.items())[:2]:
        start = time.perf_counter()
        ref = bu.unlearn(post, forget=forget, method="refit", random_seed=10)
        t_ref = time.perf_counter() - start
        floor = bu.compare(bu.unlearn(post, forget=forget, method="refit", random_seed=11), ref)
        base = {"forget": label, "refit seconds": t_ref}
        rows.append(
            {
                **base,
                "engine": "refit B (noise floor)",
                "seconds": t_ref,
                "max |SMD|": floor.max_abs_smd,
                "max |log sd ratio|": floor.max_abs_log_sd_ratio,
            }
        )
        for cores in (1, 2):
            ours, row = _ours(post, forget, ref, base, cores)
            rows.append(row)
            print(rows[-1], flush=True)
        cases.append((forget, ref, base, ours))
    import jax

    jax.config.update("jax_enable_x64", True)
    for forget, ref, base, ours in cases:
        for moves in MOVES:
            un, seconds, compile_seconds, stages, acceptance = blackjax_smc(
                post, forget, moves, 2, template=ours
            )
            c = bu.compare(un, ref)
            rows.append(
                {
                    **base,
                    "engine": f"BlackJAX adaptive_tempered_smc, HMC x {moves}",
                    "seconds": seconds,
                    "compile seconds": compile_seconds,
                    "stages": stages,
                    "gradients / particle": stages * moves * LEAPFROG,
                    "final acceptance": acceptance[-1],
                    "max |SMD|": c.max_abs_smd,
                    "max |log sd ratio|": c.max_abs_log_sd_ratio,
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["time / refit"] = table["seconds"] / table["refit seconds"]
    first_seen = {label: i for i, label in enumerate(dict.fromkeys(table["forget"]))}
    table = table.sort_values("forget", key=lambda f: f.map(first_seen), kind="stable")
    shown = table.drop(columns=["refit seconds"]).round(3).set_index("forget")
    info = machine()
    markdown = "\n".join(
        [
            "# SMC engines on a user's hierarchical model (radon varying slopes)",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}; "
            f"PyMC {info['pymc']}, JAX {jax.__version__}.",
            "",
            __doc__.split("\n\n", 1)[1].split("\n\nRun:")[0],
            "",
            markdown_table(shown),
        ]
    )
    write("smc_engines", {"machine": info, "rows": rows}, markdown)


if __name__ == "__main__":
    main()

"""NUTS by BlackJAX over PyMC's JAX-compiled log density (``nuts_sampler="blackjax"``).

PyMC 5.28's own ``pm.sample(nuts_sampler="blackjax")`` cannot run with BlackJAX 1.7, the
only series the registry serves: it passes ``progress_bar`` to
``blackjax.window_adaptation``, which no longer takes it, and calls the removed
``blackjax.progress_bar.gen_scan_fn``. This module drives BlackJAX's public API instead:
Stan's window adaptation of the step size and a diagonal mass matrix, then NUTS, on the
log density PyMC compiles to JAX (``pymc.sampling.jax.get_jaxified_logp``) over the model's
unconstrained value variables, started, like ``pm.sample``, from the model's initial point
jittered by U(-1, 1) on that space. Draws are mapped back to the constrained variables with
PyMC's JAX graph of them and returned as ArviZ ``InferenceData`` with PyMC's coordinates.
Nothing else in the package depends on JAX.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample_blackjax"]

#: Jittered starting points tried per chain before giving up (``pm.sample`` tries 10).
_MAX_JITTER_TRIES = 10


def sample_blackjax(
    model, *, draws: int, tune: int, chains: int, target_accept: float, random_seed: int
):
    """``chains`` independent NUTS chains on a PyMC ``model``, as ArviZ ``InferenceData``.

    Parameters
    ----------
    model : pymc.Model
    draws, tune, chains : int
        Kept draws per chain, adaptation steps per chain, number of chains.
    target_accept : float
        Target acceptance rate of the step-size adaptation.
    random_seed : int
        Seeds the starting points and every chain.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (the model's free variables, constrained, with its dims) and
        ``sample_stats`` (``diverging``, ``energy``, ``tree_depth``, ``n_steps``,
        ``acceptance_rate``, ``lp``, ``step_size``).
    """
    import arviz as az
    import blackjax
    import jax
    from pymc.backends.arviz import coords_and_dims_for_inferencedata
    from pymc.sampling.jax import get_jaxified_logp

    logdensity = get_jaxified_logp(model)  # log p(θ, D) with the Jacobians, unconstrained
    seeds = np.random.SeedSequence(random_seed)
    starts = [_starting_point(model, logdensity, seed) for seed in seeds.spawn(chains)]
    keys = jax.random.split(jax.random.PRNGKey(int(seeds.generate_state(1)[0])), chains)
    run = jax.jit(_chain_runner(logdensity, draws=draws, tune=tune, target_accept=target_accept))
    results = [jax.device_get(run(key, start)) for key, start in zip(keys, starts, strict=True)]

    posterior = _constrained(model, [positions for positions, _ in results])
    sample_stats = {
        name: np.stack([np.asarray(stats[name]) for _, stats in results]) for name in results[0][1]
    }
    coords, dims = coords_and_dims_for_inferencedata(model)
    return az.from_dict(
        posterior=posterior,
        sample_stats=sample_stats,
        coords=coords,
        dims={name: dim for name, dim in dims.items() if name in posterior},
        posterior_attrs={
            "inference_library": "blackjax",
            "inference_library_version": blackjax.__version__,
        },
    )


def _chain_runner(logdensity, *, draws: int, tune: int, target_accept: float):
    """``(key, position) ↦ (positions, stats)``: window adaptation then ``draws`` NUTS steps."""
    import blackjax
    import jax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    def one_chain(key, position):
        adapt_key, draw_key = jax.random.split(key)
        adaptation = blackjax.window_adaptation(
            blackjax.nuts,
            logdensity,
            target_acceptance_rate=target_accept,
            adaptation_info_fn=get_filter_adapt_info_fn(),  # keep no per-step record
        )
        (state, parameters), _ = adaptation.run(adapt_key, position, num_steps=tune)
        step = blackjax.nuts(logdensity, **parameters).step

        def transition(state, key):
            state, info = step(key, state)
            stats = {
                "diverging": info.is_divergent,
                "energy": info.energy,
                "tree_depth": info.num_trajectory_expansions,
                "n_steps": info.num_integration_steps,
                "acceptance_rate": info.acceptance_rate,
                "lp": state.logdensity,
            }
            return state, (state.position, stats)

        _, (positions, stats) = jax.lax.scan(transition, state, jax.random.split(draw_key, draws))
        stats["step_size"] = jax.numpy.full(draws, parameters["step_size"])
        return positions, stats

    return one_chain


def _constrained(model, chains: list) -> dict[str, np.ndarray]:
    """The model's free variables (constrained) from each chain's unconstrained positions."""
    import jax
    from pymc.sampling.jax import get_jaxified_graph
    from pymc.util import get_default_varnames

    names = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    constrain = jax.vmap(get_jaxified_graph(inputs=model.value_vars, outputs=names))
    values = [constrain(*positions) for positions in chains]  # per chain, per variable
    return {var.name: np.stack([np.asarray(v[i]) for v in values]) for i, var in enumerate(names)}


def _starting_point(model, logdensity, seed: np.random.SeedSequence) -> list[np.ndarray]:
    """The model's initial point jittered by U(-1, 1) on the unconstrained space, retried
    until its log density is finite."""
    from pymc.initial_point import make_initial_point_fn

    point_fn = make_initial_point_fn(model=model, jitter_rvs=set(model.free_RVs))
    seeds = seed.generate_state(_MAX_JITTER_TRIES)
    for attempt in seeds:
        point = point_fn(int(attempt))
        position = [np.asarray(point[var.name]) for var in model.value_vars]
        if np.isfinite(float(logdensity(position))):
            return position
    raise RuntimeError(
        f"No finite starting point for BlackJAX's NUTS in {_MAX_JITTER_TRIES} jittered tries: "
        "check the model's priors and data, or use nuts_sampler='pymc'."
    )

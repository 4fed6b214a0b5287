"""One place that turns a user's ``random_seed`` into generators and integer seeds."""

from __future__ import annotations

import numpy as np

__all__ = ["RandomSeed", "get_random_generator", "seed_to_int"]

RandomSeed = int | np.random.Generator | np.random.SeedSequence | None


def get_random_generator(random_seed: RandomSeed = None) -> np.random.Generator:
    """Return a new Generator for one call.

    A Generator given is *spawned* (``Generator.spawn``), not used: the child stream is
    independent, the caller's stream is not advanced, and passing the same Generator to two
    calls gives them different streams (a copy would give both the same one).
    """
    if isinstance(random_seed, np.random.Generator):
        try:
            return random_seed.spawn(1)[0]
        except TypeError:  # a bit generator built without a SeedSequence cannot spawn
            return np.random.default_rng(random_seed.integers(2**63))
    return np.random.default_rng(random_seed)


def seed_to_int(random_seed: RandomSeed) -> int:
    """Derive a reproducible integer seed (for PyMC) from any accepted ``random_seed``."""
    if isinstance(random_seed, int | np.integer) and not isinstance(random_seed, bool):
        return int(random_seed)
    return int(get_random_generator(random_seed).integers(2**31 - 1))

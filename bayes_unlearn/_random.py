"""One place that turns a user's ``random_seed`` into generators and integer seeds."""

from __future__ import annotations

import numpy as np

__all__ = ["RandomSeed", "get_random_generator", "seed_to_int"]

RandomSeed = int | np.random.Generator | np.random.SeedSequence | None


def get_random_generator(random_seed: RandomSeed = None) -> np.random.Generator:
    """Return a new Generator; a Generator given is copied so the caller's state is untouched."""
    if isinstance(random_seed, np.random.Generator):
        # Copying keeps the caller's stream where it was (as pymc.util.get_random_generator does).
        return _copy(random_seed)
    return np.random.default_rng(random_seed)


def _copy(rng: np.random.Generator) -> np.random.Generator:
    bit_gen = type(rng.bit_generator)()
    bit_gen.state = rng.bit_generator.state
    return np.random.Generator(bit_gen)


def seed_to_int(random_seed: RandomSeed) -> int:
    """Derive a reproducible integer seed (for PyMC) from any accepted ``random_seed``."""
    if isinstance(random_seed, int | np.integer) and not isinstance(random_seed, bool):
        return int(random_seed)
    return int(get_random_generator(random_seed).integers(2**31 - 1))

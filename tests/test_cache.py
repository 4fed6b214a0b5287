"""The bounded cache of compiled models and functions."""

from __future__ import annotations

from bayes_unlearn._cache import LRUCache


def test_the_least_recently_used_goes_first_and_values_are_made_once():
    made = []
    cache = LRUCache(maxsize=2)

    def make(key):
        return lambda: made.append(key) or key.upper()

    assert cache.get("a", make("a")) == "A" and cache.get("b", make("b")) == "B"
    assert cache.get("a", make("a")) == "A"  # a is now the most recent
    cache.get("c", make("c"))  # evicts b
    assert len(cache) == 2 and made == ["a", "b", "c"]
    cache.get("b", make("b"))
    assert made == ["a", "b", "c", "b"]
    cache.get("a", make("a"))  # a was evicted by b (c was more recent)
    assert made[-1] == "a"

# Two entry points for a fresh clone: `make demo` and `make test` (both set up .venv first).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast bench lint docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed  ## fit Pima, forget 1% of rows, compare with an exact refit
	$(BIN)/bayes-unlearn demo

test: $(VENV)/.installed  ## the whole test suite, on two workers (pytest-xdist), with its 20 slowest steps
	$(BIN)/python -m pytest -n 2 --durations=20

test-fast: $(VENV)/.installed  ## skip the tests marked slow
	$(BIN)/python -m pytest -n 2 -m "not slow"

bench: $(VENV)/.installed  ## timing benchmark; writes benchmarks/results/
	$(BIN)/python -m benchmarks.bench_reweight

lint: $(VENV)/.installed  ## ruff, with the complexity rules in pyproject.toml
	$(BIN)/ruff check bayes_unlearn tests benchmarks

docs: $(VENV)/.installed  ## the site: user guide, benchmark results, notebooks, API reference; warnings are errors
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info docs/_build docs/generated

"""Progress bars: on for live displays only, off by option or argument."""

from __future__ import annotations

import io

import numpy as np
import pytest
import rich.console
import rich.progress

import bayes_unlearn as bu
from bayes_unlearn import _progress, _rowwise
from bayes_unlearn._progress import progress, wants_progress

_Console, _Progress = rich.console.Console, rich.progress.Progress


class _Terminal:
    """What ``wants_progress`` asks of rich's console: a live terminal, not Jupyter."""

    is_terminal, is_jupyter = True, False


class _Made(list):
    def __init__(self):
        super().__init__()
        self.output = io.StringIO()


@pytest.fixture
def bars(monkeypatch):
    """Every rich ``Progress`` the package makes, drawn on a terminal console that writes
    to a buffer (``bars.output``), in the order made."""
    made = _Made()
    output = made.output

    class Recorded(_Progress):
        def __init__(self, *columns, **kwargs):
            kwargs["console"] = _Console(file=output, force_terminal=True, width=80)
            super().__init__(*columns, **kwargs)
            made.append(self)

    monkeypatch.setattr(rich.progress, "Progress", Recorded)
    return made


def test_bars_are_off_in_captured_output_and_when_asked():
    assert wants_progress(False) is False
    with bu.set_options(progressbar=False):
        assert wants_progress() is False
        assert wants_progress(None) is False
    assert wants_progress(True) is False  # pytest captures the output: not a live display


def test_a_terminal_gets_bars_unless_the_option_or_argument_says_no(monkeypatch):
    monkeypatch.setattr(rich.console, "Console", _Terminal)
    assert wants_progress() is True and wants_progress(True) is True
    assert wants_progress(False) is False
    with bu.set_options(progressbar=False):
        assert wants_progress() is False
        assert wants_progress(True) is True  # the argument overrides the option


def test_a_shown_bar_advances_and_disappears(bars):
    with progress("work", 2.0, show=True) as bar:
        assert len(bars) == 1
        (task,) = bars[0].tasks
        assert bars[0].live.is_started and task.description == "work" and task.total == 2.0
        assert task.completed == 0
        bar.advance(1.0)
        assert task.completed == 1.0 and not task.finished
        bar.advance(1.0)
        assert task.completed == 2.0 and task.finished
    assert not bars[0].live.is_started  # stopped with the step
    assert bars[0].live.transient  # and erased from the display
    assert "work" in bars.output.getvalue()  # it was drawn


def test_a_hidden_bar_takes_the_same_calls_and_draws_nothing(bars):
    with progress("nothing", 1.0, show=False) as bar:
        bar.advance(1.0)
    assert bars == [] and bars.output.getvalue() == ""


def _sweep(n_rows: int) -> np.ndarray:
    """A sum over ``n_rows`` rows in blocks of 2 (the ``chunk_rows`` option)."""
    values = np.arange(3 * n_rows, dtype=float).reshape(3, n_rows)
    with bu.set_options(chunk_rows=2):
        return _rowwise.sum_over_rows(lambda rows: values[:, rows].sum(axis=1), n_rows, 3, "test")


def test_a_long_sweep_over_rows_shows_a_bar_that_counts_its_blocks(bars, monkeypatch):
    monkeypatch.setattr(rich.console, "Console", _Terminal)
    n_blocks = _rowwise.MIN_BLOCKS_FOR_BAR + 2
    total = _sweep(2 * n_blocks)
    assert total.shape == (3,)
    (shown,) = bars
    (task,) = shown.tasks
    assert task.description == "test over rows" and task.total == n_blocks
    assert task.completed == n_blocks  # one step a block, every block
    assert not shown.live.is_started
    # Fewer blocks than the bar's minimum, the option off, or no live display: no bar.
    _sweep(2 * (_rowwise.MIN_BLOCKS_FOR_BAR - 1))
    with bu.set_options(progressbar=False):
        _sweep(2 * n_blocks)
    monkeypatch.setattr(rich.console, "Console", _Console)
    _sweep(2 * n_blocks)  # pytest's captured output
    assert len(bars) == 1


def test_jupyter_shows_bars_only_with_ipywidgets(monkeypatch):
    """rich renders live bars in Jupyter through ipywidgets; without it a bar would only warn
    ("install ipywidgets") and leave empty outputs in the notebook."""

    class NotebookConsole:
        is_terminal, is_jupyter = False, True

    monkeypatch.setattr(rich.console, "Console", NotebookConsole)
    monkeypatch.setattr(_progress, "_has_ipywidgets", lambda: False)
    assert wants_progress(True) is False
    monkeypatch.setattr(_progress, "_has_ipywidgets", lambda: True)
    assert wants_progress(True) is True

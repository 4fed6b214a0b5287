"""Progress bars: on for live displays only, off by option or argument."""

from __future__ import annotations

import bayes_unlearn as bu
from bayes_unlearn._progress import progress, wants_progress


def test_bars_are_off_in_captured_output_and_when_asked():
    assert wants_progress(False) is False
    with bu.set_options(progressbar=False):
        assert wants_progress() is False
        assert wants_progress(None) is False
    assert wants_progress(True) is False  # pytest captures the output: not a live display


def test_a_shown_bar_advances_and_disappears(capsys):
    with progress("work", 2.0, show=True) as bar:
        bar.advance(1.0)
        bar.advance(1.0)
    with progress("nothing", 1.0, show=False) as bar:
        bar.advance(1.0)  # a hidden bar takes the same calls


def test_jupyter_shows_bars_only_with_ipywidgets(monkeypatch):
    """rich renders live bars in Jupyter through ipywidgets; without it a bar would only warn
    ("install ipywidgets") and leave empty outputs in the notebook."""
    import rich.console

    from bayes_unlearn import _progress

    class NotebookConsole:
        is_terminal, is_jupyter = False, True

    monkeypatch.setattr(rich.console, "Console", NotebookConsole)
    monkeypatch.setattr(_progress, "_has_ipywidgets", lambda: False)
    assert wants_progress(True) is False
    monkeypatch.setattr(_progress, "_has_ipywidgets", lambda: True)
    assert wants_progress(True) is True

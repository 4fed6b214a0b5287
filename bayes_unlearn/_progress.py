"""Progress bars for long steps, with ``rich`` (the library PyMC's own bars use).

Bars show in a terminal or Jupyter (with ipywidgets, which rich needs there) when the
``progressbar`` option is on (the default), never in logs or captured output, and disappear
when the step ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bayes_unlearn.options import get_options

__all__ = ["progress", "wants_progress"]


def wants_progress(progressbar: bool | None = None) -> bool:
    """Whether to show a bar: ``progressbar`` if given, else the option; and a live display."""
    show = get_options()["progressbar"] if progressbar is None else bool(progressbar)
    if not show:
        return False
    from rich.console import Console

    console = Console()
    # In Jupyter, rich draws live displays through ipywidgets; without it a bar only warns.
    return console.is_terminal or (console.is_jupyter and _has_ipywidgets())


def _has_ipywidgets() -> bool:
    import importlib.util

    return importlib.util.find_spec("ipywidgets") is not None


class _Bar:
    def __init__(self, progress=None, task=None) -> None:
        self._progress, self._task = progress, task

    def advance(self, steps: float = 1.0, **fields) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=steps, **fields)


@contextlib.contextmanager
def progress(description: str, total: float | None, *, show: bool) -> Iterator[_Bar]:
    """A transient bar; ``bar.advance(k)`` moves it. Does nothing when ``show`` is False."""
    if not show:
        yield _Bar()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        yield _Bar(bar, bar.add_task(description, total=total))

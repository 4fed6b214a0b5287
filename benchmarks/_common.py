"""Helpers shared by the benchmark scripts: machine description and result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    """What the numbers were measured on."""
    import arviz
    import numpy
    import pymc

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "pymc": pymc.__version__,
        "arviz": arviz.__version__,
        "numpy": numpy.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def write(name: str, payload: dict, markdown: str) -> None:
    """Write ``results/NAME.json`` and ``results/NAME.md`` and print the markdown."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown + "\n")
    print(markdown)


def report_head(title: str, doc: str, start: float, settings: str) -> tuple[dict, list[str]]:
    """The machine, and a report's first lines: title, machine and wall time since ``start``
    (a ``time.perf_counter()``), the module docstring's first two paragraphs, ``settings``."""
    info = machine()
    intro = [p.replace("\n", " ") for p in doc.split("\n\n")[:2]]
    return info, [
        title,
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores; {info['date']}. Wall time "
        f"{time.perf_counter() - start:.0f} s.",
        "",
        *[line for p in intro for line in (p, "")],
        settings,
        "",
    ]


def markdown_table(df) -> str:
    """A pandas DataFrame as a GitHub markdown table (index as the first column)."""
    header = [df.index.name or "", *map(str, df.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in df.iterrows():
        lines.append("| " + " | ".join([str(index), *map(str, row.to_numpy())]) + " |")
    return "\n".join(lines)

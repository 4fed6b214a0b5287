"""Sphinx configuration: the user guide, the benchmark results, the notebooks, the API reference.

Every number on the site lives in one file of ``benchmarks/results/``: the benchmark pages
include those files (MyST's ``{include}``) rather than copying them. The notebooks render
their committed outputs; nothing is executed while the site is built.
"""

import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

import bayes_unlearn

project = "bayes-unlearn"
author = "bayes-unlearn developers"
release = bayes_unlearn.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
# The committed notebooks carry the outputs of their full runs (the Pima one took 39
# minutes): render them, never execute.
nb_execution_mode = "off"
# Anchors for headings down to ###, so pages can link to each other's sections.
myst_heading_anchors = 3
autosummary_generate = True


def _remove_stale_stubs() -> None:
    """Delete stubs in ``generated/`` (autosummary's output) that ``api.rst`` no longer lists.

    A stub left from an entry since renamed or removed is a page in no toctree: a warning,
    hence a failed build, on a machine that built the docs before.
    """
    here = Path(__file__).parent
    listed = set(re.findall(r"^ {3}(bayes_unlearn[\w.]*)$", (here / "api.rst").read_text(), re.M))
    for stub in (here / "generated").glob("*.rst"):
        if stub.stem not in listed:
            stub.unlink(missing_ok=True)


_remove_stale_stubs()
autodoc_typehints = "none"  # the numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
html_theme = "alabaster"
html_theme_options = {
    "description": "Machine unlearning for Bayesian models",
    "fixed_sidebar": True,
    "page_width": "1300px",
    "body_max_width": "none",
}
html_static_path = ["_static"]  # custom.css: the benchmark tables' width
suppress_warnings = ["myst.header"]
# Classes list their own members; inherited scikit-learn methods (score, get_params, ...)
# are documented by scikit-learn, whose cross-reference labels do not resolve here.
templates_path = ["_templates"]


class CliHelp(SphinxDirective):
    """``{cli-help} [COMMAND]``: the command line's own ``--help`` text, as a literal block.

    Read from :func:`bayes_unlearn.cli.build_parser`, so the page cannot drift from the code.
    """

    optional_arguments = 1

    def run(self):
        from bayes_unlearn.cli import build_parser

        os.environ["COLUMNS"] = "92"  # argparse wraps to the terminal's width
        parser = build_parser()
        if self.arguments:
            sub = next(a for a in parser._actions if a.dest == "command")  # noqa: SLF001
            parser = sub.choices[self.arguments[0]]
        text = parser.format_help()
        return [nodes.literal_block(text, text, language="text")]


def setup(app):
    app.add_directive("cli-help", CliHelp)

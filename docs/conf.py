"""Sphinx configuration: API reference (numpydoc), the architecture notes, the notebook."""

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
# The committed notebook carries the outputs of its full run (39 minutes): render them.
nb_execution_mode = "off"
autosummary_generate = True
autodoc_typehints = "none"  # the numpydoc sections carry the types
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
html_theme = "alabaster"
suppress_warnings = ["myst.header"]
# Classes list their own members; inherited scikit-learn methods (score, get_params, ...)
# are documented by scikit-learn, whose cross-reference labels do not resolve here.
templates_path = ["_templates"]

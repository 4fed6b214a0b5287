"""The method registry: each forget method written once, read by everything that names one."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from bayes_unlearn import registry
from bayes_unlearn.cli import build_parser

PACKAGE = Path(registry.__file__).parent


def test_every_entry_resolves_to_its_function_with_its_options():
    for method in registry.METHODS.values():
        params = inspect.signature(method.function).parameters
        assert "posterior" in params and "rows" in params, method.name
        assert set(method.options) >= {
            p for p in params if p not in {"posterior", "rows", "random_seed", "progressbar"}
            and p != "requested" and params[p].kind is not inspect.Parameter.VAR_KEYWORD
        }
    assert registry.AUTO.options[-len(registry.REWEIGHT.options) :] == registry.REWEIGHT.options
    assert [m.name for m in registry.LADDER][-1] == registry.REFIT.name  # the last resort


def test_an_unknown_method_is_refused_with_the_choices_and_a_near_miss():
    with pytest.raises(ValueError, match=r"one of \['auto'.*Did you mean 'reweight'"):
        registry.get("reweigh")


def test_the_cli_offers_exactly_the_registry():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in ("forget", "causes", "repair"):
        parser = sub.choices[command]
        methods = [a for a in parser._actions if a.dest == "method"]
        assert methods and tuple(methods[0].choices) == registry.names(), command


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    exports = {  # __all__ names functions (``refit``), not methods
        id(const)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        for const in ast.walk(node.value)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings | exports
    ]


def test_each_method_name_is_written_once_in_the_package():
    """Outside registry.py no code spells a method's name (docstrings and f-strings aside)."""
    names = set(registry.names())
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "registry.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [
            f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}"
            for node in _string_constants(tree)
            if node.value in names
        ]
    assert not found, "method names spelled outside the registry:\n" + "\n".join(found)

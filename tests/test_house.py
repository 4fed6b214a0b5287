"""House rules that keep the package readable: short functions (ruff checks complexity), no
import cycles, tests that mirror the package layout."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "bayes_unlearn"
MAX_BODY_LINES = 60


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    has_docstring = (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    first = body[1] if has_docstring and len(body) > 1 else body[0]
    return node.end_lineno - first.lineno + 1


def test_no_function_body_is_longer_than_60_lines():
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({_body_lines(node)})"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _body_lines(node) > MAX_BODY_LINES
    ]
    assert not long, "split these into named steps: " + ", ".join(long)


def _imports(path: Path, module: str, modules: set[str]) -> set[str]:
    """Package modules ``module`` imports, at module level, inside functions or under
    ``if TYPE_CHECKING:`` (an annotation that names a module above it is a circle too)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = module.rsplit(".", node.level)[0] + "." + node.module
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.add(name if name in modules else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in modules and m not in (module, "bayes_unlearn")}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_cycles():
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        paths[name.removesuffix(".__init__")] = path
    graph = {m: _imports(p, m, set(paths)) for m, p in paths.items()}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_imports_under_type_checking_count(tmp_path):
    path = tmp_path / "b.py"
    path.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n"
    )
    assert _imports(path, "pkg.b", {"pkg.a", "pkg.b"}) == {"pkg.a"}


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


#: Test files about the package as a whole (or the suite's own helpers) rather than one module.
CROSS_CUTTING = {"test_house.py", "test_notebooks.py", "test_docs.py", "test_compile_flags.py"}


def _unmirrored(tests: Path, package: Path) -> list[str]:
    """Test files ``<dir>/test_<name>.py`` without ``<dir>/<name>.py`` or ``_<name>.py``."""
    orphans = []
    for path in sorted(tests.rglob("test_*.py")):
        rel = path.relative_to(tests)
        if rel.name in CROSS_CUTTING and len(rel.parts) == 1:
            continue
        name = rel.name.removeprefix("test_")
        folder = package.joinpath(*rel.parts[:-1])
        if not ((folder / name).exists() or (folder / f"_{name}").exists()):
            orphans.append(str(rel))
    return orphans


def test_tests_mirror_the_package_layout():
    """``tests/<path>/test_<name>.py`` tests ``bayes_unlearn/<path>/<name>.py``."""
    assert _unmirrored(Path(__file__).parent, PACKAGE) == []


def test_the_mirror_check_finds_an_orphan(tmp_path):
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "tests" / "sub").mkdir(parents=True)
    for name in ("pkg/models.py", "pkg/_random.py", "pkg/sub/tool.py"):
        (tmp_path / name).touch()
    for name in ("models", "random", "sub/tool", "sub/models", "orphan"):
        folder, _, stem = name.rpartition("/")
        (tmp_path / "tests" / folder / f"test_{stem}.py").touch()
    orphans = _unmirrored(tmp_path / "tests", tmp_path / "pkg")
    assert orphans == ["sub/test_models.py", "test_orphan.py"]

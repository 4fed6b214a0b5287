"""Code named in a file by ``"module:qualname"``: finding the path, importing it, trusting it.

A file is data, and anyone can edit it; importing a module runs its code. A path is
imported only where the caller trusts it (:func:`check_trusted`).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["UntrustedCodeError", "check_trusted", "import_path", "resolve_import_path"]


class UntrustedCodeError(ValueError):
    """A file names code to import that the caller has not trusted."""


def import_path(obj) -> str | None:
    """``"module:qualname"`` when ``obj`` can be imported back by that path, else None.

    Functions defined in ``__main__``, inside other functions or as lambdas have no such
    path: a file can then only name them, and loading asks for them again.
    """
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    path = f"{module}:{qualname}"
    try:
        return path if resolve_import_path(path) is obj else None
    except (ImportError, AttributeError, ValueError):
        return None


def resolve_import_path(path: str):
    """The object named by ``"module:qualname"`` (importing the module)."""
    import importlib

    module, sep, qualname = path.partition(":")
    if not sep or not module or not qualname:
        raise ValueError(f"{path!r} is not an import path of the form 'package.module:name'.")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def check_trusted(paths: list[str], trusted: Callable[[str], bool]) -> None:
    """Raise :class:`UntrustedCodeError` naming the paths ``trusted`` does not accept."""
    untrusted = [p for p in paths if not trusted(p)]
    if untrusted:
        listed = ", ".join(map(repr, untrusted))
        raise UntrustedCodeError(
            f"The file names code to import ({listed}), which you have not trusted: "
            f"pass bu.load(path, trusted=[{listed}]) (CLI: --trust "
            f"{' --trust '.join(untrusted)}), load a file signed with your key, or pass the "
            "model itself: bu.load(path, model=...)."
        )

"""Compiled functions kept on disk, so a new process does not rewrite the same graphs again.

Compiling one of a model's batched functions (:mod:`bayes_unlearn.compiled`) is mostly
PyTensor's graph rewriting (seconds per function), which PyTensor's own disk cache
(``compiledir``) does not keep: it keeps the C modules, not the rewritten graphs. A request
made first thing in a fresh process (the CLI, a worker per deletion request) paid the
rewriting every time. A compiled function pickles with its rewritten graph and loads without
rewriting, so the first process to compile a function of a model structure writes it here and
later ones load it.

Trust: a pickle is code. The files live in PyTensor's ``compiledir`` (whose C modules PyTensor
already loads, and whose keys it already unpickles), under ``bayes_unlearn/``, and one is read
only if it and its directory belong to the current user and no one else can write them. Their
names are hashes of what the function depends on (the model's structure key, the function's
name, the versions of Python, NumPy, PyTensor and this package, the source of the modules that
build the graphs, PyTensor's mode and flags), so a file never stands for another graph; a
received posterior file chooses none of this. A file that cannot be read is compiled again and
replaced. ``BAYES_UNLEARN_FUNCTION_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path

#: Environment variable that turns the disk cache off when set to "0".
ENV = "BAYES_UNLEARN_FUNCTION_CACHE"
#: Bumped when the format of a cache entry changes.
FORMAT = 1


def enabled() -> bool:
    return os.environ.get(ENV, "1") != "0"


def directory() -> Path:
    """Where the functions are kept: ``<PyTensor compiledir>/bayes_unlearn``."""
    import pytensor

    return Path(pytensor.config.compiledir) / "bayes_unlearn"


class FunctionCache:
    """Compiled functions by structure key and name, for graphs built by ``sources``.

    Parameters
    ----------
    *sources : str
        The modules (dotted names) that build and rewrite the graphs: an entry written
        before one of their files changed is never read.
    """

    def __init__(self, *sources: str):
        self._sources = sources

    def load(self, key: str, name: str):
        """The cached function, or None (not there, not this user's alone, or unreadable)."""
        if not enabled():
            return None
        path = self._path(key, name)
        try:
            if not (_private(path.parent) and _private(path)):
                return None
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # a stale or torn entry is compiled again
            return None

    def store(self, key: str, name: str, function) -> None:
        """Write ``function`` for later processes (atomically; best effort: on a full or
        read-only disk the function stays compiled in memory only)."""
        if not enabled():
            return
        path = self._path(key, name)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not _private(path.parent):
                return
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    pickle.dump(function, fh, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except Exception:  # the function stays in memory only
            return

    def _path(self, key: str, name: str) -> Path:
        text = f"{FORMAT}|{key}|{name}|{self._environment}"
        return directory() / f"{hashlib.sha256(text.encode()).hexdigest()}.pkl"

    @functools.cached_property
    def _environment(self) -> str:
        """What else a compiled function depends on: versions, the builders' source, flags."""
        import numpy
        import pytensor

        sources = hashlib.sha256()
        for module in (*self._sources, __name__):
            sources.update(Path(importlib.util.find_spec(module).origin).read_bytes())
        config = pytensor.config
        flags = (config.floatX, config.mode, config.linker, config.optimizer, config.cxx)
        versions = (sys.version, numpy.__version__, pytensor.__version__)
        return "|".join(map(str, (*versions, sources.hexdigest(), flags)))


def _private(path: Path) -> bool:
    """Owned by this user and writable by no one else (and not a link)."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return False
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return False
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)

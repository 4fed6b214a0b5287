"""Faster C compilation of PyTensor's modules for the test suite (a test helper, not the package).

On a fresh machine the suite compiles about 250 C modules, one at a time under PyTensor's cache
lock, and much of each compile is g++ parsing the same headers (Python, NumPy, the C++
library). Two flags make each compile faster without changing the machine code
(tests/test_compile_flags.py compiles a module with and without them):

- ``-g0`` drops the debug symbols that PyTensor's ``-g`` asks for;
- a precompiled header of those headers, built once here with exactly the arguments PyTensor
  passes for its modules, as ``Python.h.gch`` in a folder of its own put first on the include
  path (``-I``). Every module's first line is ``#include <Python.h>``: g++ looks for
  ``Python.h.gch`` before ``Python.h`` in each folder, uses it where it is valid for the
  module's arguments, and otherwise goes on to the real ``Python.h``. So a mismatched header
  costs time, never correctness, and sources that do not start with Python.h (PyTensor's probe
  of the machine's ``-march`` flags) never see it.

The folder's path enters PyTensor's cache keys (they contain the compile arguments), so it is
fixed per compile directory, and the header is rebuilt in place when its arguments or any
header it read change.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

# The headers every PyTensor C module includes first, in PyTensor's order.
HEADERS = (
    "<Python.h>",
    '"pytensor_mod_helper.h"',
    "<math.h>",
    "<numpy/arrayobject.h>",
    "<numpy/arrayscalars.h>",
    "<numpy/npy_math.h>",
    "<vector>",
    "<algorithm>",
)


def module_compile_args() -> list[str]:
    """The g++ arguments PyTensor compiles an elementwise module with (no output, no source)."""
    import pytensor.tensor as pt
    from pytensor.graph.fg import FunctionGraph
    from pytensor.link.c.basic import CLinker
    from pytensor.link.c.cmodule import std_include_dirs

    x = pt.dvector("x")
    linker = CLinker().accept(FunctionGraph([x], [pt.exp(x)]))
    helper_dir = Path(pt.__file__).parents[1] / "link" / "c" / "c_code"
    includes = [f"-I{d}" for d in [*std_include_dirs(), str(helper_dir)]]
    # As GCC_compiler.compile_str orders them, less the link-only "-shared".
    return ["-g", *linker.compile_args(), *includes, "-fvisibility=hidden"]


def _stale(gch: Path, args_file: Path, deps_file: Path, args: list[str]) -> bool:
    if not (gch.exists() and args_file.exists() and deps_file.exists()):
        return True
    if args_file.read_text() != shlex.join(args):
        return True
    built = gch.stat().st_mtime
    deps = deps_file.read_text().replace("\\\n", " ").split(":", 1)[-1].split()
    return any(not Path(d).exists() or Path(d).stat().st_mtime > built for d in deps)


def precompiled_header(directory: Path, args: list[str]) -> Path:
    """Build (if missing or stale) the precompiled header under ``directory``; the folder to
    put first on the include path."""
    import pytensor
    from filelock import FileLock

    (directory / "include").mkdir(parents=True, exist_ok=True)
    header = directory / "pytensor_headers.h"
    gch = directory / "include" / "Python.h.gch"
    args_file, deps_file = (directory / f"pytensor_headers.h.{s}" for s in ("args", "d"))
    with FileLock(str(directory / "build.lock")):
        if _stale(gch, args_file, deps_file, args):
            header.write_text("".join(f"#include {h}\n" for h in HEADERS))
            partial = directory / f"partial-{os.getpid()}.gch"  # not in the include folder
            build = ["-x", "c++-header", "-MD", "-MF", str(deps_file), "-o", str(partial)]
            subprocess.run(
                [pytensor.config.cxx, *args, *build, str(header)], check=True, capture_output=True
            )
            os.replace(partial, gch)  # never a half-written header under the name g++ looks for
            args_file.write_text(shlex.join(args))
    return gch.parent


def fast_compile_flags() -> str:
    """``-g0`` and, where g++ can build it, ``-I`` the precompiled header's folder.

    Puts them before the flags already set on PyTensor's configuration in this process and
    returns them, for the caller to pass on to child processes (``PYTENSOR_FLAGS``), where
    PyMC's import appends its own again.
    """
    # PyMC appends its compiler flags (-fno-exceptions among them) when first imported, and a
    # precompiled header is only valid for modules compiled with the same settings.
    import pymc  # noqa: F401
    import pytensor

    others = pytensor.config.gcc__cxxflags
    pytensor.config.gcc__cxxflags = f"-g0 {others}"
    if not pytensor.config.cxx:
        return "-g0"  # PyTensor compiles nothing
    try:
        args = module_compile_args()
        folder = precompiled_header(Path(pytensor.config.compiledir) / "test-headers", args)
    except (OSError, subprocess.CalledProcessError):
        return "-g0"  # no g++ or no header: PyTensor compiles as usual, only slower
    if any(c.isspace() or c == "," for c in str(folder)):
        return "-g0"  # PyTensor splits its compiler flags at spaces, its flags at commas
    flags = f"-g0 -I{folder}"
    pytensor.config.gcc__cxxflags = f"{flags} {others}"
    return flags

"""The suite's compiler flags (tests/_compile_flags.py) do what they say."""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys

import pymc  # noqa: F401  (its import adds the compiler flags every module is built with)
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.fg import FunctionGraph
from pytensor.link.c.basic import CLinker

from tests._compile_flags import _stale, module_compile_args


def _suites_header_in_use():
    if "test-headers" not in pytensor.config.gcc__cxxflags:
        pytest.skip("the caller set PyTensor's compiler flags, or g++ could not build the header")


def test_pytensors_modules_can_use_the_suites_precompiled_header(tmp_path):
    _suites_header_in_use()
    source = tmp_path / "module.cpp"
    source.write_text("#include <Python.h>\n")
    check = [pytensor.config.cxx, *module_compile_args(), "-Winvalid-pch", "-Werror"]
    used = subprocess.run([*check, "-fsyntax-only", str(source)], capture_output=True, text=True)
    assert used.returncode == 0, used.stderr
    # Positive control: compiled at another optimisation level, g++ says it cannot use it.
    refused = subprocess.run(
        [*check, "-O0", "-fsyntax-only", str(source)], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "not used" in refused.stderr


def test_the_header_is_rebuilt_when_its_arguments_or_a_header_it_read_change(tmp_path):
    names = ("h", "h.gch", "h.args", "h.d", "dep.h")
    header, gch, args_file, deps_file, dep = (tmp_path / n for n in names)
    for f in (header, dep, gch):
        f.write_text("")
    args = ["-O3", "-g0"]
    args_file.write_text(shlex.join(args))
    deps_file.write_text(f"h.gch: {header} \\\n {dep}\n")
    for f in (header, dep):
        os.utime(f, ns=(0, 0))
    assert not _stale(gch, args_file, deps_file, args)
    assert _stale(gch, args_file, deps_file, ["-O2", "-g0"])
    os.utime(dep)  # a header newer than the build
    assert _stale(gch, args_file, deps_file, args)
    dep.unlink()
    assert _stale(gch, args_file, deps_file, args)


def test_pytensor_still_finds_the_machines_march_flags():
    """PyTensor probes them once per process by compiling a small program with the configured
    flags; a flag that broke that program would silently build every module for a generic CPU.
    Compared in fresh processes (as the workers start), with and without the suite's flags."""
    _suites_header_in_use()
    probe = "from pytensor.link.c.cmodule import GCC_compiler as g; print(g.compile_args())"
    flags = os.environ["PYTENSOR_FLAGS"]
    plain = ",".join(f for f in flags.split(",") if not f.startswith("gcc__cxxflags"))
    args = {}
    for name, env_flags in (("plain", plain), ("suite", flags)):
        env = {**os.environ, "PYTENSOR_FLAGS": env_flags}
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        args[name] = {a for a in ast.literal_eval(out.stdout) if a.startswith("-m")}
    assert any(a.startswith("-march=") for a in args["plain"])
    assert args["plain"] <= args["suite"]


def _instructions(library) -> list[str]:
    listing = subprocess.run(["objdump", "-d", str(library)], capture_output=True, text=True)
    return [line.split("\t")[1] for line in listing.stdout.splitlines() if line.count("\t") >= 2]


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils)")
def test_a_module_built_with_the_header_has_the_same_machine_code(tmp_path):
    _suites_header_in_use()
    x, y = pt.dvectors("x", "y")
    linker = CLinker().accept(FunctionGraph([x, y], [pt.sigmoid(x * y) - pt.log1p(pt.exp(x))]))
    source = tmp_path / "mod.cpp"
    source.write_text(linker.get_src_code())
    args = module_compile_args()  # the header's folder first on the include path, as in use
    plain = [a for a in args if not (a.startswith("-I") and "test-headers" in a)]
    built = {}
    for name, flags in (("header", args), ("plain", plain), ("-O2", [*plain, "-O2"])):
        library = tmp_path / f"{name}.so"
        cmd = [pytensor.config.cxx, "-shared", "-H", *flags, "-o", str(library), str(source)]
        included = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
        used = any(line.startswith("! ") for line in included.splitlines())  # "x": found, unused
        assert used == (name == "header")
        built[name] = _instructions(library)
    assert built["header"] == built["plain"]
    assert built["-O2"] != built["plain"]  # positive control: the comparison sees a change

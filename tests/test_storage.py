"""The reader, fuzzed: every mutated posterior file is refused in one line or loads unchanged.

Mutations start from valid files (a fitted logistic posterior, a refreshed polynomial one,
signed and unsigned, and the format-2 file in ``tests/data``) and change their bytes, their
metadata JSON, or their arrays (shapes, dtypes, values, names, groups). A plain checksum
refuses most of them, but anyone can recompute it, so most mutations are also written with
a recomputed checksum: the reader's deeper checks must then refuse them in one line, or
load a posterior that is well formed. With a key, a recomputed checksum does not help (the
signature still fails), so a signed file must be refused or identical. A file naming code
by import path must never make the reader import it.

``benchmarks/bench_fuzz_files.py`` runs the same strategies on 1,000+ files.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import bayes_unlearn as bu
from bayes_unlearn.integrity import file_checksum

KEY = b"fuzzing-key-kept-outside-the-file"
FORMAT2 = Path(__file__).parent / "data" / "format2_linear.nc"
#: The groups each format's checksum covers, in order, written here independently of
#: bayes_unlearn.storage so that the fuzzer is not built on the code it tests.
CHECKED_GROUPS = {
    "bayes-unlearn-posterior/3": ("posterior", "sample_stats", "observed_data", "constant_data"),
    "bayes-unlearn-posterior/2": (
        "posterior",
        "sample_stats",
        "log_likelihood",
        "observed_data",
        "constant_data",
    ),
}
ATTR = "bayes_unlearn"
#: A module the fuzzer names in model specs ("module:qualname"); importing it leaves a marker.
PLANTED = "bu_fuzz_planted_module"
PLANTED_SOURCE = """
import pathlib
pathlib.Path(__file__).with_suffix(".imported").write_text("imported")
def build(X, y):
    raise RuntimeError("planted code ran")
class Model:
    pass
"""
HANG_SECONDS = 20.0
OUTCOMES = ("refused", "identical", "forged", "traceback", "multi-line", "malformed", "hang")


# --- base files -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Base:
    """A valid file, what it decodes to, and the posterior it loads to."""

    name: str
    path: Path
    key: bytes | None
    raw: bytes
    groups: dict[str, xr.Dataset]
    meta_text: str
    posterior: object


def base_files(folder: Path, logistic_post, linear_post) -> dict[str, Base]:
    """The valid files mutations start from, written under ``folder``.

    The fitted posteriors are thinned to a few draws: reading cost grows with their size,
    and no check of the reader depends on how many draws there are.
    """
    idata = logistic_post.idata.isel(draw=slice(0, 20))
    # Three of NUTS's statistics stand for all (reading cost grows with their number).
    idata.sample_stats = idata.sample_stats[["log_joint", "log_weight", "diverging", "lp",
                                             "tree_depth"]]  # fmt: skip
    logistic = dataclasses.replace(logistic_post, idata=idata)
    linear = dataclasses.replace(linear_post, idata=linear_post.idata.isel(draw=slice(0, 10)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refreshed = bu.unlearn(linear, forget=[1, 2], key=KEY, method="reweight")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    paths["logistic-fit"] = (folder / "logistic-fit.nc", None)
    bu.save(logistic, paths["logistic-fit"][0])
    paths["polynomial-refresh"] = (folder / "polynomial-refresh.nc", None)
    saved = bu.save(refreshed, paths["polynomial-refresh"][0], random_seed=0)
    paths["polynomial-refresh-signed"] = (folder / "polynomial-refresh-signed.nc", KEY)
    bu.save(saved, paths["polynomial-refresh-signed"][0], key=KEY)
    paths["format2-linear"] = (FORMAT2, None)
    return {name: _base(name, path, key) for name, (path, key) in paths.items()}


def _base(name: str, path: Path, key: bytes | None) -> Base:
    groups = {}
    with h5py.File(path, "r") as fh:
        meta_text = fh.attrs[ATTR]
        names = list(fh)
    if isinstance(meta_text, bytes):  # netCDF-C stores text attributes as characters
        meta_text = meta_text.decode()
    for group in names:
        with xr.open_dataset(path, group=group, engine="h5netcdf") as ds:
            groups[group] = ds.load()
    return Base(name, path, key, path.read_bytes(), groups, meta_text, bu.load(path, key=key))


# --- mutations ------------------------------------------------------------------------------
# A mutation is plain data (a tuple of an operation's name and its arguments), so that
# Hypothesis prints a failing one in full and the benchmark can store it.


def _json_values(max_leaves=4):
    huge = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, -0.0])
    odd_floats = st.sampled_from([float("nan"), float("inf"), float("-inf"), 5e-324])
    odd_text = st.sampled_from(
        ["", " ", "x" * 10_000, "a\nb", "\x00", "é∑🙂", "fit", "refit", "smc", "custom", "1"]
    )
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | huge
        | odd_floats
        | st.floats()
        | st.text(max_size=8)
        | odd_text
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=6), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def _paths(value, prefix=()):
    """Every path (tuple of keys and indices) into a JSON document."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


_IMPORTING_MODELS = [
    {"kind": "custom", "builder_path": f"{PLANTED}:build", "observed": "y"},
    {"kind": "custom", "builder_path": None, "mean_fn_path": f"{PLANTED}:build"},
    {"kind": "logistic", "class": f"{PLANTED}:Model"},
    {"kind": "polynomial", "class": f"{PLANTED}:Model", "degree": 1},
    {"kind": "custom", "builder": "build", "builder_path": f"{PLANTED}:build",
     "mean_fn_path": f"{PLANTED}:build", "observed": "y", "binary": True, "standardize": False},
]  # fmt: skip


@st.composite
def metadata_mutations(draw, base: Base):
    meta = json.loads(base.meta_text)
    paths = [p for p in _paths(meta) if p and p[0] not in ("checksum", "mac")]
    kind = draw(st.sampled_from(["replace", "delete", "add", "import", "deep", "text"]))
    if kind == "replace":
        return ("meta_replace", draw(st.sampled_from(paths)), draw(_json_values()))
    if kind == "delete":
        return ("meta_delete", draw(st.sampled_from(paths)))
    if kind == "add":
        containers = [p for p in _paths(meta) if isinstance(_get(meta, p), dict)]
        name = draw(st.sampled_from(["extra", "mac", "kind", "class", "log_weight", ""]))
        return ("meta_add", draw(st.sampled_from(containers)), name, draw(_json_values()))
    if kind == "import":
        return ("meta_replace", ("model",), draw(st.sampled_from(_IMPORTING_MODELS)))
    if kind == "deep":
        depth = draw(st.sampled_from([50, 1_000, 100_000]))
        return ("meta_replace", draw(st.sampled_from(paths)), ("deep", depth))
    text = draw(
        st.sampled_from(
            ["", "null", "[1, 2]", '"text"', "{", "NaN", "[" * 100_000 + "]" * 100_000,
             "{" + '"a":' * 50_000, "\x00\xff", "1e999999"]
        )
    )  # fmt: skip
    return ("meta_text", text)


def _variables(base: Base):
    return [(g, v) for g, ds in base.groups.items() for v in ds.variables]


_DTYPES = ["int8", "int64", "uint8", "float16", "float32", "bool", "U3", "S2", "complex128"]


_NAMES = {
    "rename_var": ["x", "coef", "intercept", "log_joint", "log_weight", "y", "X", "obs_id"],
    "rename_dim": ["x", "chain", "draw", "obs_id", "feature", "term"],
    "add_var": ["smuggled", "log_weight", "log_likelihood", "sigma", "lp"],
    "add_group": ["log_likelihood", "prior", "extra", "posterior_predictive", "sample_stats_2"],
    "rename_group": ["log_likelihood", "prior", "posterior_", "observed_data", "constant_data"],
}
_SPECIAL_VALUES = [np.nan, np.inf, -np.inf, 1e308, -1e308, 0.0, -1.0, 1e9]
#: The arguments each array mutation draws after its group and variable.
_ARRAY_ARGUMENTS = {
    "dtype": lambda draw: (draw(st.sampled_from(_DTYPES)),),
    "value": lambda draw: (draw(st.integers(0, 10**6)), draw(st.sampled_from(_SPECIAL_VALUES))),
    "shrink": lambda draw: (draw(st.integers(0, 3)), draw(st.integers(0, 2))),
    "transpose": lambda draw: (),
    "rename_var": lambda draw: (draw(st.sampled_from(_NAMES["rename_var"])),),
    "rename_dim": lambda draw: (
        draw(st.integers(0, 3)),
        draw(st.sampled_from(_NAMES["rename_dim"])),
    ),
    "drop_var": lambda draw: (),
    "add_var": lambda draw: (draw(st.sampled_from(_NAMES["add_var"])),),
    "attrs": lambda draw: (draw(st.booleans()), draw(_json_values(2))),
    "duplicate": lambda draw: (),
}


@st.composite
def array_mutations(draw, base: Base):
    kind = draw(st.sampled_from([*_ARRAY_ARGUMENTS, "drop_group", "add_group", "rename_group"]))
    if kind.endswith("_group"):
        group = draw(st.sampled_from(list(base.groups)))
        if kind == "drop_group":
            return (kind, group)
        return (kind, group, draw(st.sampled_from(_NAMES[kind])))
    group, var = draw(st.sampled_from(_variables(base)))
    return (kind, group, var, *_ARRAY_ARGUMENTS[kind](draw))


@st.composite
def byte_mutations(draw, base: Base):
    n = len(base.raw)
    kind = draw(st.sampled_from(["flip", "overwrite", "truncate", "insert", "delete"]))
    at = draw(st.integers(0, n - 1) | st.sampled_from([0, 8, 512, 1024, n // 2, n - 1]))
    if kind == "flip":
        return ("flip", at, draw(st.integers(0, 7)))
    if kind == "overwrite":
        return ("overwrite", at, draw(st.binary(min_size=1, max_size=16)))
    if kind == "truncate":
        return ("truncate", at)
    if kind == "insert":
        return ("insert", at, draw(st.binary(min_size=1, max_size=16)))
    return ("delete", at, draw(st.integers(1, 64)))


@dataclasses.dataclass(frozen=True)
class Case:
    """One fuzzed file: its base, the mutations, and whether the checksum is recomputed."""

    base: str
    mutations: tuple
    recompute: bool


@st.composite
def cases(draw, bases: dict[str, Base]):
    base = bases[draw(st.sampled_from(sorted(bases)))]
    family = draw(st.sampled_from(["bytes", "metadata", "arrays", "mixed"]))
    if family == "bytes":
        muts = draw(st.lists(byte_mutations(base), min_size=1, max_size=3))
        return Case(base.name, tuple(muts), draw(st.booleans()))
    if family == "metadata":
        muts = [draw(metadata_mutations(base))]
    elif family == "arrays":
        muts = draw(st.lists(array_mutations(base), min_size=1, max_size=2))
    else:
        muts = [draw(array_mutations(base)), draw(metadata_mutations(base))]
    # Mostly recomputed: a stale checksum stops every such file at the first check.
    return Case(base.name, tuple(muts), draw(st.sampled_from([True, True, True, False])))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _deep(depth: int):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _apply_metadata(meta, mutation):
    op, path, *rest = mutation
    if op == "meta_replace":
        value = rest[0]
        if isinstance(value, tuple) and value[0] == "deep":
            value = _deep(value[1])
        if not path:
            return value
        _get(meta, path[:-1])[path[-1]] = value
    elif op == "meta_delete":
        parent = _get(meta, path[:-1])
        del parent[path[-1]]
    elif op == "meta_add":
        _get(meta, path)[rest[0]] = rest[1]
    return meta


def _apply_array(groups: dict[str, xr.Dataset], mutation) -> None:
    op, group, *args = mutation
    if op == "drop_group":
        del groups[group]
    elif op == "add_group":
        groups[args[0]] = groups[group].copy()
    elif op == "rename_group":
        groups[args[0]] = groups.pop(group)
    else:
        ds, var = groups[group], args[0]
        groups[group] = _ARRAY_EDITS[op](ds, var, ds[var], *args[1:])


def _set(ds, var, da, values):
    update = {var: (da.dims, values)}
    return ds.assign(update) if var in ds.data_vars else ds.assign_coords(update)


def _retyped(ds, var, da, dtype):
    values = da.values
    if np.dtype(dtype).kind in "US":
        return _set(ds, var, da, values.astype(str).astype(dtype))
    if values.dtype.kind in "OUS":
        return _set(ds, var, da, np.zeros(values.shape, dtype))
    with np.errstate(all="ignore"):
        return _set(ds, var, da, values.astype(dtype))


def _valued(ds, var, da, at, value):
    values = np.array(da.values, copy=True)
    if values.size and values.dtype.kind == "f":
        values.flat[at % values.size] = value
    elif values.size and values.dtype.kind in "iu":
        values.flat[at % values.size] = values.flat[0]  # a duplicate id or index
    return _set(ds, var, da, values)


def _with_attrs(ds, var, da, on_group, value):
    out = ds.copy()
    (out if on_group else out[var]).attrs["fuzz"] = json.dumps(value, allow_nan=True)
    return out


def _duplicated(ds, var, da):
    if var not in ds.data_vars or not da.ndim:
        return ds
    return xr.concat([ds, ds.isel({da.dims[0]: slice(0, 1)})], dim=da.dims[0])


#: Each array mutation as a function of (dataset, variable name, variable, arguments);
#: those that do not apply to a variable leave the dataset as it is.
_ARRAY_EDITS: dict[str, Callable] = {
    "dtype": _retyped,
    "value": _valued,
    "shrink": lambda ds, var, da, axis, n: (
        ds.isel({da.dims[axis % da.ndim]: slice(0, n)}) if da.ndim else ds
    ),
    "transpose": lambda ds, var, da: (
        ds.assign({var: da.transpose(*reversed(da.dims))})
        if var in ds.data_vars and da.ndim > 1
        else ds
    ),
    "rename_var": lambda ds, var, da, new: (
        ds if new in ds.variables or new in ds.dims else ds.rename_vars({var: new})
    ),
    "rename_dim": lambda ds, var, da, axis, new: (
        ds.rename_dims({da.dims[axis % da.ndim]: new})
        if da.ndim and new not in ds.dims and new not in ds.variables
        else ds
    ),
    "drop_var": lambda ds, var, da: ds.drop_vars(var),
    "add_var": lambda ds, var, da, new: (
        ds if new in ds.variables else ds.assign({new: da.variable.copy()})
    ),
    "attrs": _with_attrs,
    "duplicate": _duplicated,
}


def _apply_bytes(raw: bytes, mutation) -> bytes:
    op, at, *rest = mutation
    at = min(at, max(len(raw) - 1, 0))
    if op == "flip":
        return raw[:at] + bytes([raw[at] ^ (1 << rest[0])]) + raw[at + 1 :]
    if op == "overwrite":
        return raw[:at] + rest[0] + raw[at + len(rest[0]) :]
    if op == "truncate":
        return raw[:at]
    if op == "insert":
        return raw[:at] + rest[0] + raw[at:]
    return raw[:at] + raw[at + rest[0] :]


_BYTE_OPS = ("flip", "overwrite", "truncate", "insert", "delete")


def write_case(case: Case, base: Base, path: Path) -> bool:
    """Write the fuzzed file for ``case``; False if the mutation cannot be written at all."""
    if case.mutations[0][0] in _BYTE_OPS:
        raw = base.raw
        for mutation in case.mutations:
            raw = _apply_bytes(raw, mutation)
        path.write_bytes(raw)
    elif not _write_decoded(case, base, path):
        return False
    if case.recompute:
        _recompute_checksum(path)
    return True


def _write_decoded(case: Case, base: Base, path: Path) -> bool:
    groups = {g: ds.copy(deep=True) for g, ds in base.groups.items()}
    meta: object = base.meta_text
    try:
        for mutation in case.mutations:
            if mutation[0] == "meta_text":
                meta = mutation[1]
            elif mutation[0].startswith("meta_"):
                meta = _apply_metadata(json.loads(meta) if isinstance(meta, str) else meta,
                                       mutation)  # fmt: skip
            else:
                _apply_array(groups, mutation)
        meta_text = meta if isinstance(meta, str) else json.dumps(meta, allow_nan=True)
    except Exception:  # names what an earlier mutation removed, or xarray/json refuses it
        return False
    if any(not m[0].startswith("meta_") for m in case.mutations):
        return _write_groups(groups, meta_text, path)
    path.write_bytes(base.raw)  # the arrays as they were
    try:
        with h5py.File(path, "r+") as fh:
            fh.attrs[ATTR] = meta_text
    except ValueError:  # text HDF5 cannot store (an embedded NUL)
        return False
    return True


def _write_groups(groups, meta_text: str, path: Path) -> bool:
    path.unlink(missing_ok=True)
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: None  # h5netcdf's, on failure
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, (group, ds) in enumerate(groups.items()):
                ds.to_netcdf(
                    path, group=group, mode="a" if i else "w", engine="h5netcdf",
                    invalid_netcdf=True,
                )  # fmt: skip
        with h5py.File(path, "r+") as fh:
            fh.attrs[ATTR] = meta_text
    except Exception:  # a mutation h5netcdf cannot store (it then never reaches a reader)
        return False
    finally:
        sys.unraisablehook = hook
    return True


def _recompute_checksum(path: Path) -> None:
    """What anyone can do after tampering: recompute the plain checksum as the reader does."""
    import arviz as az

    hook, sys.unraisablehook = sys.unraisablehook, lambda u: None  # h5netcdf's, on failure
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with h5py.File(path, "r"):  # h5netcdf prints an ignored error where h5py fails
                pass
            with az.rc_context({"data.load": "eager"}):
                idata = az.from_netcdf(path, engine="h5netcdf")
            meta = json.loads(idata.attrs[ATTR])
            groups = CHECKED_GROUPS.get(meta.get("format"), CHECKED_GROUPS[bu.io.FORMAT])
            meta["checksum"] = file_checksum(idata, meta, groups)
            with h5py.File(path, "r+") as fh:
                fh.attrs[ATTR] = json.dumps(meta, allow_nan=True)
    except Exception:  # unreadable, or not a document the reader could check: left as is
        return
    finally:
        sys.unraisablehook = hook


# --- the oracle -----------------------------------------------------------------------------
class Hang(Exception):
    """The reader ran past its deadline."""


def _deadline(seconds: float):
    def handler(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return previous


def _raised_by_us(err: BaseException) -> bool:
    """Whether the innermost frame that raised ``err`` is in bayes_unlearn (not a library)."""
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and "bayes_unlearn" in Path(frames[-1].filename).parts


@dataclasses.dataclass(frozen=True)
class Result:
    outcome: str
    detail: str = ""
    imported: bool = False


def load_outcome(path: Path, base: Base, planted_dir: Path | None = None) -> Result:
    """Load a fuzzed file and classify what the reader did (see :data:`OUTCOMES`)."""
    sys.modules.pop(PLANTED, None)
    marker = planted_dir / f"{PLANTED}.imported" if planted_dir else None
    if marker is not None:
        marker.unlink(missing_ok=True)
    unraisable: list[str] = []
    hook, sys.unraisablehook = (
        sys.unraisablehook,
        lambda u: unraisable.append(
            f"{type(u.exc_value).__name__} ignored in {u.object!r}: {u.exc_value}"
        ),
    )
    previous = _deadline(HANG_SECONDS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning is not a traceback
            post = bu.load(path, key=base.key)
    except Hang as err:
        result = Result("hang", str(err))
    except (ValueError, TypeError, FileNotFoundError) as err:
        message = str(err)
        if not _raised_by_us(err):
            result = Result("traceback", _describe(err))
        elif len(message.splitlines()) != 1:
            result = Result("multi-line", message[:500])
        else:
            result = Result("refused", message[:300])
    except Exception as err:
        result = Result("traceback", _describe(err))
    else:
        result = _compare(post, base)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.unraisablehook = hook
    if unraisable:  # printed to the user's terminal as a traceback
        result = Result("traceback", "unraisable: " + unraisable[0][:300])
    imported = PLANTED in sys.modules or (marker is not None and marker.exists())
    sys.modules.pop(PLANTED, None)
    return dataclasses.replace(result, imported=imported)


def _describe(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(err).__name__}{where}: {str(err)[:300]}"


_FIELDS = ("model", "standardizer", "feature_names", "target_name", "sampler", "history",
           "draws_source")  # fmt: skip


def _compare(post, base: Base) -> Result:
    """``identical`` to the base's posterior, else ``forged`` if well formed, else why not."""
    ref = base.posterior
    same = all(
        getattr(post.idata, g).identical(getattr(ref.idata, g))
        for g in ("posterior", "sample_stats", "observed_data", "constant_data")
    ) and all(getattr(post, f) == getattr(ref, f) for f in _FIELDS)
    if same:
        return Result("identical")
    try:
        problem = well_formed_problem(post)
    except Exception as err:
        return Result("malformed", "checking it raised " + _describe(err))
    return Result("forged") if problem is None else Result("malformed", problem)


def well_formed_problem(post) -> str | None:
    """What is wrong with a loaded posterior a reader should have refused, or None."""
    problem = _arrays_problem(post.idata) or _metadata_problem(post)
    if problem is None and not isinstance(post.model, bu.PyMCModel):  # may lack a builder
        ll = post.log_likelihood()
        if ll.shape != (post.n_draws, len(post.row_ids)):
            return f"log-likelihood has shape {ll.shape}"
        if post.predict(np.zeros((2, len(post.feature_names)))).shape != (2,):
            return "predictions do not have one value per row"
    return problem


def _arrays_problem(idata) -> str | None:
    for name, da in idata.posterior.data_vars.items():
        if da.dims[:2] != ("chain", "draw") or da.dtype.kind not in "iuf":
            return f"posterior {name} has dims {da.dims} and dtype {da.dtype}"
        if not np.isfinite(da.values).all():
            return f"posterior {name} holds non-finite draws"
    log_joint = idata.sample_stats["log_joint"]
    if log_joint.dims != ("chain", "draw") or log_joint.dtype.kind != "f":
        return f"log_joint has dims {log_joint.dims} and dtype {log_joint.dtype}"
    if log_joint.shape != (idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]):
        return "log_joint does not have one value per draw"
    return _data_problem(idata)


def _data_problem(idata) -> str | None:
    X, y = idata.constant_data["X"], idata.observed_data["y"]
    if X.dims != ("obs_id", "feature") or y.dims != ("obs_id",):
        return f"data dims {X.dims}, {y.dims}"
    if X.dtype.kind not in "iuf" or y.dtype.kind not in "fiub":
        return f"data dtypes {X.dtype}, {y.dtype}"
    if not (np.isfinite(X.values).all() and np.isfinite(y.values).all()):
        return "data holds non-finite values"
    ids = idata.observed_data["obs_id"].values
    if ids.dtype.kind not in "iu" or len(np.unique(ids)) != len(ids):
        return "row ids are not distinct integers"
    if not np.array_equal(ids, idata.constant_data["obs_id"].values):
        return "observed and constant data have different rows"
    return None


def _metadata_problem(post) -> str | None:
    p = post.idata.constant_data.sizes["feature"]
    scaling = post.standardizer
    if not (len(post.feature_names) == p == len(scaling.mean) == len(scaling.scale)):
        return "feature names, scaling and X disagree on the number of features"
    if not all(isinstance(n, str) for n in (post.target_name, *post.feature_names)):
        return "names are not strings"
    scale = np.asarray(scaling.scale, dtype=float)
    if not (np.isfinite(scaling.mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
        return "feature scaling is not finite and positive"
    if post.draws_source not in ("fit", "refit", "refresh"):
        return f"draws_source {post.draws_source!r}"
    str(post.diagnostics)  # formats every number it holds
    return None


def plant_module(folder: Path) -> Path:
    """Write the planted module into ``folder`` (the caller puts it on sys.path)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PLANTED}.py").write_text(PLANTED_SOURCE)
    return folder


# --- tests ----------------------------------------------------------------------------------
#: The suite's fuzzer is a regression guard over the same 60 derandomized files each run;
#: benchmarks/bench_fuzz_files.py fuzzes more widely (results/fuzz.md: 1150 files).
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,  # load_outcome's own deadline turns a hang into a failure
    derandomize=True,
    database=None,
    # Without shrinking: a failing file is reported as drawn (mutations are short already).
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip


@pytest.fixture(scope="module")
def bases(tmp_path_factory, logistic_post, linear_post):
    return base_files(tmp_path_factory.mktemp("fuzz-bases"), logistic_post, linear_post)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = plant_module(tmp_path_factory.mktemp("planted"))
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop(PLANTED, None)


def fuzz_failures(bases, planted: Path, folder: Path, fuzz_settings) -> list[tuple]:
    """(result, case) of every fuzzed file the reader handled wrongly.

    Failures are collected rather than raised inside Hypothesis, so that every one is
    reported with its mutations (and a failing file is not re-run to shrink it).
    """
    failures = []

    @fuzz_settings
    @given(data=st.data())
    def fuzz(data):
        case = data.draw(cases(bases), label="case")
        path = folder / "fuzzed.nc"
        if not write_case(case, bases[case.base], path):
            return
        result = load_outcome(path, bases[case.base], planted)
        forged_ok = case.recompute and bases[case.base].key is None
        ok = result.outcome in ("refused", "identical") or (
            result.outcome == "forged" and forged_ok
        )
        if not ok or result.imported:
            failures.append((result, case))

    fuzz()
    return failures


@pytest.mark.slow
def test_a_fuzzed_file_is_refused_in_one_line_or_loads_unchanged(bases, planted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzzed")
    failures = fuzz_failures(bases, planted, folder, FUZZ_SETTINGS)
    assert not failures, "\n".join(f"{r} from {c!r:.600}" for r, c in failures[:10])


@pytest.mark.parametrize(
    "mutation",
    [
        ("drop_var", "posterior", "intercept"),
        ("rename_var", "posterior", "coef", "x"),
        ("shrink", "posterior", "coef", 2, 1),
    ],
)
def test_a_file_missing_a_model_parameter_is_refused(bases, planted, tmp_path_factory, mutation):
    path = tmp_path_factory.getbasetemp() / "parameter.nc"
    case = Case("polynomial-refresh", (mutation,), True)
    assert write_case(case, bases[case.base], path)
    assert load_outcome(path, bases[case.base], planted).outcome == "refused"


@settings(FUZZ_SETTINGS, max_examples=20)
@given(model=st.sampled_from(_IMPORTING_MODELS), recompute=st.booleans())
def test_a_file_never_makes_the_reader_import_code(
    bases, planted, tmp_path_factory, model, recompute
):
    """A model spec naming a planted module by import path: never imported, signed or not.

    Relies on bu.load's ``trusted=`` (nothing a file names is imported unless trusted).
    """
    path = tmp_path_factory.getbasetemp() / "importing.nc"
    case = Case("logistic-fit", (("meta_replace", ("model",), model),), recompute)
    assert write_case(case, bases[case.base], path)
    result = load_outcome(path, bases[case.base], planted)
    assert not result.imported, (result, model)
    assert result.outcome in ("refused", "forged"), result


def test_the_fuzzer_catches_a_planted_reader_bug(bases, planted, tmp_path_factory, monkeypatch):
    """Positive control: a reader that lets h5py's errors escape is caught."""
    import arviz as az

    from bayes_unlearn import storage

    base = bases["logistic-fit"]
    path = tmp_path_factory.getbasetemp() / "truncated.nc"
    assert write_case(Case(base.name, (("truncate", 4000),), False), base, path)
    assert load_outcome(path, base, planted).outcome == "refused"

    def leaky_read(path, key):  # the reader without its try/except around from_netcdf
        idata = az.from_netcdf(path, engine="h5netcdf")
        return idata, json.loads(idata.attrs[ATTR])

    monkeypatch.setattr(bu.io, "read", leaky_read)
    assert load_outcome(path, base, planted).outcome == "traceback"
    monkeypatch.undo()
    # A reader that skips the layout and parameter checks accepts a smuggled variable:
    # caught as malformed.
    smuggle = Case(base.name, (("rename_var", "posterior", "intercept", "log_weight"),), True)
    monkeypatch.setattr(storage.layout, "check_saved_layout", lambda idata, source: None)
    monkeypatch.setattr(bu.io, "_check_parameters", lambda *args: None)
    assert write_case(smuggle, base, path)
    assert load_outcome(path, base, planted).outcome in ("malformed", "traceback")

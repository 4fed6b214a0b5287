"""Model specs as stored in a posterior file, and rebuilt from it: :func:`model_from_dict`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bayes_unlearn.import_paths import check_trusted, resolve_import_path
from bayes_unlearn.models import KINDS, BayesianModel
from bayes_unlearn.pymc_model import PyMCModel

__all__ = ["model_from_dict"]


def model_from_dict(
    data: dict[str, Any],
    model: BayesianModel | None = None,
    *,
    trusted: Callable[[str], bool] = lambda path: False,
) -> BayesianModel:
    """Rebuild a spec stored by :meth:`BayesianModel.to_dict`.

    A custom model's builder, its mean function and a user's subclass are named in the
    file by ``"module:qualname"``. They are imported only where ``trusted(path)`` is true
    (the caller listed the path, or the file's signature verified under the caller's key):
    importing a module runs its code, and anyone can edit a file and recompute its plain
    checksum. An untrusted path raises :class:`UntrustedCodeError`, unless ``model``
    supplies the code instead. Built-in models name no code.
    """
    data = dict(data)
    kind = data.pop("kind", None)
    if data.get("class"):  # a user's subclass (its kind may repeat a built-in's)
        return _subclass_from_dict(data, model, trusted)
    data.pop("class", None)
    if kind == "custom":
        if model is not None:
            if not isinstance(model, PyMCModel):
                raise TypeError(
                    f"The 'model' parameter must be a PyMCModel for this file. Got {type(model).__name__}."
                )
            return model
        paths = {
            name: data.get(f"{name}_path")
            for name in ("builder", "mean_fn")
            if data.get(f"{name}_path")
        }
        check_trusted(list(paths.values()), trusted)
        code = {name: _try_import(path) for name, path in paths.items()}
        return PyMCModel(
            builder=code.get("builder"),
            builder_path=paths.get("builder"),
            mean_fn=code.get("mean_fn"),
            observed=data.get("observed", "y"),
            binary=bool(data.get("binary", False)),
        )
    if kind not in KINDS:
        raise ValueError(
            f"Unknown model kind {kind!r} in posterior file; expected one of {sorted(KINDS)}."
        )
    if model is not None:
        raise ValueError("The 'model' parameter is only for posteriors of custom PyMC models.")
    return KINDS[kind](**data)


def _subclass_from_dict(
    data: dict[str, Any], model: BayesianModel | None, trusted: Callable[[str], bool]
) -> BayesianModel:
    """A user's :class:`BayesianModel` subclass, imported by its stored path."""
    path = data.pop("class")
    if model is not None:
        return model
    if not isinstance(path, str):
        raise ValueError(f"This posterior's model class {path!r} is not an import path.")
    check_trusted([path], trusted)
    try:
        cls = resolve_import_path(path)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"This posterior's model class {path!r} could not be imported ({err}); make it "
            "importable or pass it: bu.load(path, model=MyModel(...))."
        ) from err
    if not (isinstance(cls, type) and issubclass(cls, BayesianModel)):
        raise ValueError(f"{path!r} is not a BayesianModel subclass.")
    return cls(**data)


def _try_import(path: str):
    try:
        return resolve_import_path(path)
    except (ImportError, AttributeError, ValueError):
        return None

"""Unlearning methods for :class:`MLPClassifier`, each ``method(model, mask_forget, ...)``.

References
----------
Golatkar et al. (2020) Eternal sunshine of the spotless net (fine-tuning, l2 to the original).
Graves et al. (2021) Amnesiac machine learning (random labels).
Thudi et al. (2022) Unrolling SGD (gradient ascent).
Chen et al. (2023) Boundary unlearning (boundary shrink).
Jia et al. (2023) Model sparsity can simplify machine unlearning (l1-sparse).
Fan et al. (2024) SalUn: weight saliency for machine unlearning.
Ebrahimpour-Boroojeny et al. (2025) Not all wrong is bad: adversarial examples for unlearning (AMUN).
"""

from __future__ import annotations

import numpy as np

from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn.numpy_models.mlp import MLPClassifier

__all__ = ["METHODS", "adversarial_set"]


def _data(model, mask):
    return (model.X_fit_[mask], model.y_fit_[mask]), (model.X_fit_[~mask], model.y_fit_[~mask])


def _finish(model, mask, params, name):
    new = model.derived(mask, name)
    new.params_ = params
    return new


def _wrong_labels(model, y, rng):
    """A uniformly random label different from each true label."""
    k = model.classes_.size
    idx = np.searchsorted(model.classes_, y)
    return model.classes_[(idx + rng.integers(1, k, size=len(y))) % k]


def retrain(model, mask, *, retain_access=True, random_seed: RandomSeed = None):
    """Train from scratch on the retained rows (the reference; it needs them)."""
    _require_retain(retain_access, "retrain")
    (_, _), (X_r, y_r) = _data(model, mask)
    rng = get_random_generator(model.random_seed if random_seed is None else random_seed)
    params = model.train(
        model.init_params(X_r.shape[1], rng),
        X_r,
        y_r,
        epochs=model.epochs,
        learning_rate=model.learning_rate,
        rng=rng,
    )
    return _finish(model, mask, params, "retrain")


def finetune(
    model,
    mask,
    *,
    retain_access=True,
    epochs=5,
    learning_rate=1e-3,
    l2=0.0,
    l1=0.0,
    random_seed: RandomSeed = None,
    _name="finetune",
):
    """Continue training on the retained rows (catastrophic forgetting of the rest)."""
    _require_retain(retain_access, _name)
    (_, _), (X_r, y_r) = _data(model, mask)
    rng = get_random_generator(random_seed)
    start = model.params_

    def penalty(params):
        return [
            (l2 * 2 * (W - W0) + l1 * np.sign(W), l2 * 2 * (b - b0))
            for (W, b), (W0, b0) in zip(params, start, strict=True)
        ]

    params = model.train(
        start,
        X_r,
        y_r,
        epochs=epochs,
        learning_rate=learning_rate,
        rng=rng,
        penalty=penalty if (l1 or l2) else None,
    )
    return _finish(model, mask, params, _name)


def finetune_l2(model, mask, *, retain_access=True, l2=1e-2, **kw):
    """Fine-tuning with a penalty ``l2 · ||θ − θ_original||²`` (the course report's variant)."""
    return finetune(model, mask, retain_access=retain_access, l2=l2, _name="finetune_l2", **kw)


def l1_sparse(model, mask, *, retain_access=True, l1=1e-4, **kw):
    """Fine-tuning with an l1 penalty that sparsifies the weights (Jia et al. 2023)."""
    return finetune(model, mask, retain_access=retain_access, l1=l1, _name="l1_sparse", **kw)


def gradient_ascent(
    model, mask, *, retain_access=True, epochs=2, learning_rate=2e-4, random_seed: RandomSeed = None
):
    """Raise the loss on the forgotten rows."""
    (X_f, y_f), _ = _data(model, mask)
    params = model.train(
        model.params_,
        X_f,
        y_f,
        epochs=epochs,
        learning_rate=learning_rate,
        rng=get_random_generator(random_seed),
        ascent=True,
    )
    return _finish(model, mask, params, "gradient_ascent")


def _relabel_train(
    model, mask, X_new, y_new, *, retain_access, epochs, learning_rate, rng, param_mask=None
):
    (_, _), (X_r, y_r) = _data(model, mask)
    if retain_access:
        X_new, y_new = np.vstack([X_new, X_r]), np.concatenate([y_new, y_r])
    return model.train(
        model.params_,
        X_new,
        y_new,
        epochs=epochs,
        learning_rate=learning_rate,
        rng=rng,
        mask=param_mask,
    )


def random_labels(
    model, mask, *, retain_access=True, epochs=5, learning_rate=1e-3, random_seed: RandomSeed = None
):
    """Fine-tune on the forgotten rows with random wrong labels (plus retained rows if allowed)."""
    return salun(
        model,
        mask,
        retain_access=retain_access,
        epochs=epochs,
        learning_rate=learning_rate,
        fraction=None,
        random_seed=random_seed,
        _name="random_labels",
    )


def _fgsm(model, X, y, eps):
    return X + eps[:, None] * np.sign(model.input_gradient(X, y))


def boundary_shrink(
    model,
    mask,
    *,
    retain_access=True,
    epochs=5,
    learning_rate=1e-3,
    eps=0.1,
    random_seed: RandomSeed = None,
):
    """Relabel each forgotten row with the class of its nearest adversarial neighbour (FGSM)."""
    rng = get_random_generator(random_seed)
    (X_f, y_f), _ = _data(model, mask)
    y_near = model.predict(_fgsm(model, X_f, y_f, np.full(len(X_f), eps)))
    # Where the attack did not cross the boundary, fall back to a random wrong label.
    same = y_near == y_f
    y_near[same] = _wrong_labels(model, y_f[same], rng)
    params = _relabel_train(
        model,
        mask,
        X_f,
        y_near,
        retain_access=retain_access,
        epochs=epochs,
        learning_rate=learning_rate,
        rng=rng,
    )
    return _finish(model, mask, params, "boundary_shrink")


def _saliency_mask(model, X_f, y_f, fraction):
    grads, _ = model.gradients(model.params_, X_f, model.onehot(y_f))
    flat = np.concatenate([np.abs(g).ravel() for gw, gb in grads for g in (gw, gb)])
    cut = np.quantile(flat, 1.0 - fraction)
    return [
        ((np.abs(gw) >= cut).astype(float), (np.abs(gb) >= cut).astype(float)) for gw, gb in grads
    ]


def salun(
    model,
    mask,
    *,
    retain_access=True,
    epochs=5,
    learning_rate=1e-3,
    fraction=0.5,
    random_seed: RandomSeed = None,
    _name="salun",
):
    """Random labels, updating only the ``fraction`` of weights most salient for the forget loss.

    ``fraction=None`` updates every weight (plain random labels).
    """
    rng = get_random_generator(random_seed)
    (X_f, y_f), _ = _data(model, mask)
    params = _relabel_train(
        model,
        mask,
        X_f,
        _wrong_labels(model, y_f, rng),
        retain_access=retain_access,
        epochs=epochs,
        learning_rate=learning_rate,
        rng=rng,
        param_mask=None if fraction is None else _saliency_mask(model, X_f, y_f, fraction),
    )
    return _finish(model, mask, params, _name)


def adversarial_set(
    model: MLPClassifier,
    X,
    y,
    *,
    eps_init: float = 0.01,
    max_doublings: int = 20,
    random_seed: RandomSeed = None,
):
    """AMUN's adversarial set: for each row, double ε (FGSM) until the predicted label flips.

    Returns the adversarial inputs, their (new) predicted labels and the ε each needed. Rows
    that never flip get a random wrong label, drawn with ``random_seed``.
    """
    eps = np.full(len(X), eps_init)
    X_adv, y_adv = X.copy(), y.copy()
    todo = np.ones(len(X), bool)
    for _ in range(max_doublings):
        cand = _fgsm(model, X[todo], y[todo], eps[todo])
        pred = model.predict(cand)
        flipped = pred != y[todo]
        rows = np.flatnonzero(todo)
        X_adv[rows[flipped]], y_adv[rows[flipped]] = cand[flipped], pred[flipped]
        todo[rows[flipped]] = False
        if not todo.any():
            break
        eps[todo] *= 2.0
    if todo.any():  # never flipped: keep the last candidate with a random wrong label
        rows = np.flatnonzero(todo)
        X_adv[rows] = _fgsm(model, X[rows], y[rows], eps[rows])
        y_adv[rows] = _wrong_labels(model, y[rows], get_random_generator(random_seed))
    return X_adv, y_adv, eps


def amun(
    model,
    mask,
    *,
    retain_access=True,
    epochs=5,
    learning_rate=1e-3,
    eps_init=0.01,
    saliency_fraction=None,
    random_seed: RandomSeed = None,
    _name="amun",
):
    """Fine-tune on the forgotten rows (true labels) plus their adversarial examples.

    With retain access the retained rows join the fine-tuning set. ``saliency_fraction``
    restricts updates to SalUn's most salient weights (``amun+salun``).
    """
    rng = get_random_generator(random_seed)
    (X_f, y_f), _ = _data(model, mask)
    X_a, y_a, _ = adversarial_set(model, X_f, y_f, eps_init=eps_init, random_seed=rng)
    param_mask = (
        _saliency_mask(model, X_f, y_f, saliency_fraction)
        if saliency_fraction is not None
        else None
    )
    params = _relabel_train(
        model,
        mask,
        np.vstack([X_f, X_a]),
        np.concatenate([y_f, y_a]),
        retain_access=retain_access,
        epochs=epochs,
        learning_rate=learning_rate,
        rng=rng,
        param_mask=param_mask,
    )
    return _finish(model, mask, params, _name)


def amun_salun(model, mask, *, saliency_fraction=0.5, **kw):
    """AMUN restricted to SalUn's salient weights."""
    return amun(model, mask, saliency_fraction=saliency_fraction, _name="amun+salun", **kw)


def _require_retain(retain_access, name):
    if not retain_access:
        raise ValueError(
            f"method={name!r} fine-tunes on the retained rows; it needs retain_access=True."
        )


METHODS = {
    "retrain": retrain,
    "finetune": finetune,
    "finetune_l2": finetune_l2,
    "gradient_ascent": gradient_ascent,
    "random_labels": random_labels,
    "boundary_shrink": boundary_shrink,
    "l1_sparse": l1_sparse,
    "salun": salun,
    "amun": amun,
    "amun+salun": amun_salun,
}

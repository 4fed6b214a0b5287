"""A small multi-layer perceptron classifier in NumPy: ReLU layers, softmax, Adam, mini-batches."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn.numpy_models._base import ForgettableMixin

__all__ = ["MLPClassifier"]


class MLPClassifier(ClassifierMixin, ForgettableMixin, BaseEstimator):
    """Softmax classifier with ReLU hidden layers, trained by Adam on mini-batches.

    Parameters
    ----------
    hidden : tuple of int, default (128,)
        Hidden layer widths.
    learning_rate : float, default 1e-3
    batch_size : int, default 64
    epochs : int, default 40
    weight_decay : float, default 1e-4
        L2 penalty (on weights, not biases).
    random_seed : int, Generator or None
        Seeds the initialization and the batch order.

    Attributes
    ----------
    params_ : list of (W, b)
    classes_ : ndarray
    X_fit_, y_fit_, row_ids_ : the training rows (kept so rows can be forgotten by id)
    """

    def __init__(
        self,
        *,
        hidden=(128,),
        learning_rate=1e-3,
        batch_size=64,
        epochs=40,
        weight_decay=1e-4,
        random_seed: RandomSeed = None,
    ):
        self.hidden = hidden
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.random_seed = random_seed

    # --- core math ----------------------------------------------------------------------
    def _forward(self, params, X):
        acts = [X]
        for W, b in params[:-1]:
            acts.append(np.maximum(acts[-1] @ W + b, 0.0))
        W, b = params[-1]
        return acts, acts[-1] @ W + b

    def gradients(self, params, X, y_onehot, *, sample_weight=None):
        """Gradients of the mean cross-entropy w.r.t. parameters and the input."""
        acts, logits = self._forward(params, X)
        w = np.ones(len(X)) if sample_weight is None else sample_weight
        delta = (softmax(logits, axis=1) - y_onehot) * (w / len(X))[:, None]
        grads = []
        for layer in range(len(params) - 1, -1, -1):
            W, _ = params[layer]
            grads.append((acts[layer].T @ delta, delta.sum(axis=0)))
            delta = delta @ W.T
            if layer > 0:
                delta = delta * (acts[layer] > 0)
        return grads[::-1], delta  # delta is now d loss / d input

    def onehot(self, y):
        """``y`` as rows of indicators over :attr:`classes_`."""
        return (np.asarray(y)[:, None] == self.classes_[None, :]).astype(float)

    def init_params(self, n_in, rng):
        """Fresh weights and biases for ``n_in`` inputs (He-scaled normal, from ``rng``)."""
        sizes = [n_in, *self.hidden, self.classes_.size]
        return [
            (rng.normal(0, np.sqrt(2.0 / a), (a, b)), np.zeros(b))
            for a, b in itertools.pairwise(sizes)
        ]

    def train(
        self, params, X, y, *, epochs, learning_rate, rng, ascent=False, penalty=None, mask=None
    ):
        """Adam on mini-batches from ``params``; returns new parameters.

        ``ascent`` maximizes the loss (gradient ascent); ``penalty(params) -> grads`` adds a
        regularizer's gradient; ``mask`` (same structure as params, 0/1) freezes weights.
        """
        params = [(W.copy(), b.copy()) for W, b in params]
        m = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
        v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
        Y = self.onehot(y)
        step, beta1, beta2 = 0, 0.9, 0.999
        sign = -1.0 if ascent else 1.0
        for _ in range(epochs):
            order = rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                idx = order[start : start + self.batch_size]
                grads, _ = self.gradients(params, X[idx], Y[idx])
                extra = penalty(params) if penalty is not None else None
                step += 1
                new = []
                for k, ((W, b), (gW, gb)) in enumerate(zip(params, grads, strict=True)):
                    gW = sign * gW + self.weight_decay * W
                    if extra is not None:
                        gW, gb = gW + extra[k][0], gb + extra[k][1]
                    if mask is not None:
                        gW, gb = gW * mask[k][0], gb * mask[k][1]
                    (mW, mb), (vW, vb) = m[k], v[k]
                    mW, mb = beta1 * mW + (1 - beta1) * gW, beta1 * mb + (1 - beta1) * gb
                    vW, vb = beta2 * vW + (1 - beta2) * gW**2, beta2 * vb + (1 - beta2) * gb**2
                    m[k], v[k] = (mW, mb), (vW, vb)
                    c1, c2 = 1 - beta1**step, 1 - beta2**step
                    W = W - learning_rate * (mW / c1) / (np.sqrt(vW / c2) + 1e-8)
                    b = b - learning_rate * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
                    new.append((W, b))
                params = new
        return params

    # --- scikit-learn API ----------------------------------------------------------------
    def fit(self, X, y, *, row_ids=None):
        """Train from scratch; stores the rows so that they can be forgotten by id."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        self._store_fit_data(X, y, row_ids)
        rng = get_random_generator(self.random_seed)
        self.params_ = self.train(
            self.init_params(X.shape[1], rng),
            X,
            y,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            rng=rng,
        )
        return self

    def predict_proba(self, X):
        """Class probabilities, shape (n, n_classes)."""
        self._check_is_fitted()
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return softmax(self._forward(self.params_, X)[1], axis=1)

    def predict(self, X):
        """Most probable class."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def loss(self, X, y):
        """Per-example cross-entropy."""
        self._check_is_fitted()
        logits = self._forward(self.params_, validate_data(self, X, dtype=np.float64, reset=False))[
            1
        ]
        return -(log_softmax(logits, axis=1) * self.onehot(y)).sum(axis=1)

    def input_gradient(self, X, y):
        """d loss / d x for each row (used by adversarial attacks)."""
        _, dx = self.gradients(self.params_, X, self.onehot(y))
        return dx * len(X)

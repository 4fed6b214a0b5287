"""What the NumPy models share: stored training data so forget requests can name rows by id."""

from __future__ import annotations

import copy

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from bayes_unlearn._validation import check_forget

__all__ = ["ForgettableMixin", "NotFittedError"]

#: Attributes an unlearning method sets; a new ``fit`` starts without them.
_UNLEARNING_STATE = ("forget_history_", "unlearning_method_", "emse_history_")


class ForgettableMixin:
    """Keeps the training rows (``X_fit_``, ``y_fit_``, ``row_ids_``) and the forget history."""

    def _store_fit_data(self, X, y, row_ids=None):
        for name in _UNLEARNING_STATE:  # a fit starts over: nothing forgotten yet
            self.__dict__.pop(name, None)
        self.X_fit_, self.y_fit_ = X, y
        self.row_ids_ = np.arange(len(y)) if row_ids is None else np.asarray(row_ids)
        self.forget_history_ = []

    def _check_is_fitted(self):
        check_is_fitted(
            self,
            "X_fit_",
            msg=f"This {type(self).__name__} is not fitted yet. Call 'fit' with training data first.",
        )

    def split_forget(self, forget):
        """Validate row ids and return boolean masks (forget, retain) over the stored rows."""
        self._check_is_fitted()
        rows = check_forget(forget, remaining=self.row_ids_, history=self.forget_history_)
        mask = np.isin(self.row_ids_, rows)
        return mask, ~mask

    def derived(self, mask_forget, method):
        """A copy that keeps only the retained rows and records the request.

        Shallow: every attribute a method changes (the rows, the history, ``params_`` or
        ``coef_``) is replaced, never mutated, so the training data is not copied twice.
        """
        new = copy.copy(self)
        keep = ~mask_forget
        new.X_fit_, new.y_fit_, new.row_ids_ = (
            self.X_fit_[keep],
            self.y_fit_[keep],
            self.row_ids_[keep],
        )
        new.forget_history_ = [*self.forget_history_, [int(i) for i in self.row_ids_[mask_forget]]]
        new.unlearning_method_ = method
        return new

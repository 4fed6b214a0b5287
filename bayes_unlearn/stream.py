"""A stream of forget requests, each applied and acknowledged at once, saved at a cadence.

Deletion requests rarely come as one batch: they arrive one by one, and each should take
effect (and be acknowledged) at once. Applying each with :func:`~bayes_unlearn.unlearn`
and saving after every one would pay a refresh per request; a :class:`ForgetStream` pays
it only when it must:

* requests compose in the importance weights (:func:`~bayes_unlearn.unlearn` with
  ``method="reweight"`` on the previous result is exact: the ratios add) while the
  reweighting's own diagnostics (Pareto k̂, ESS) pass: milliseconds a request;
* when they fail, the weighted draws are refreshed (MCMC moves towards the current
  posterior, :func:`~bayes_unlearn.refresh`) and the request is reweighted from
  the fresh draws; if that fails too, the request goes up ``method="auto"``'s ladder;
* every ``save_every`` requests (and on :meth:`ForgetStream.save` or leaving a ``with``
  block) the posterior is saved, refreshed first as every save is, and the stream goes on
  from what was saved.

With a ``path``, a request is acknowledged only once it is durable: it is appended to the
file's journal and fsync'd (:mod:`bayes_unlearn.journal`) before :meth:`ForgetStream.forget`
returns, so a crash after the acknowledgement loses nothing (whoever opens the file next
applies the journal). Each request holds the file's writer lock; if another writer changed
the file or its journal since the stream last saw them, the stream reloads them and applies
its request on top.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import numpy as np

from bayes_unlearn import journal, registry
from bayes_unlearn._random import RandomSeed, get_random_generator
from bayes_unlearn.diagnostics import UnreliableUnlearningWarning
from bayes_unlearn.integrity import Key, check_key
from bayes_unlearn.io import save
from bayes_unlearn.posterior import Posterior
from bayes_unlearn.refreshing import refresh
from bayes_unlearn.unlearning import unlearn

__all__ = ["Acknowledgement", "ForgetStream"]


@dataclasses.dataclass(frozen=True)
class Acknowledgement:
    """What became of one request.

    Attributes
    ----------
    request : int
        Its number in the stream (1 for the first).
    row_ids : tuple of int
        The rows it forgot.
    method : str
        How it was applied: ``"reweight"``, ``"refresh + reweight"`` or ``"auto: <rung>"``.
    reliable : bool
        Whether the step's own diagnostics passed.
    saved : bool
        Whether the posterior was saved after it (the cadence was reached).
    seconds : float
        Wall time of the request, the save included.

    Notes
    -----
    With a file, an acknowledgement means the request is in the file's journal on disk
    (fsync'd): every later :func:`~bayes_unlearn.load` of that file, in any process and after
    a crash, forgets its rows. It says nothing of copies made before it (other files, backups,
    posteriors already in memory elsewhere): those are yours to delete or update.
    """

    request: int
    row_ids: tuple[int, ...]
    method: str
    reliable: bool
    saved: bool
    seconds: float


class ForgetStream:
    """Forget rows as requests arrive, at the cost of a refresh only when one is needed.

    Parameters
    ----------
    posterior : Posterior
        Where the stream starts.
    path : str or path-like, optional
        File the posterior is saved to (atomically, over the previous save), with its journal
        of acknowledged requests beside it. If it does not exist, ``posterior`` is saved there
        first; if it does, it must not record erasures that ``posterior`` lacks (start from
        ``bu.load(path)``). Without a path nothing is written, nothing is durable, and
        ``save_every`` only sets when draws are refreshed.
    save_every : int, default 100
        Save (and refresh) after this many requests.
    key : bytes or str, optional
        Secret key: fingerprints forgotten rows and signs the saved file (as in
        :func:`~bayes_unlearn.unlearn` and :func:`~bayes_unlearn.save`).
    random_seed : int, Generator or None
        Seed of the refreshes and of any rung that samples.
    lock_timeout : float, optional
        Seconds a request waits for another writer of ``path`` before it fails with
        :class:`~bayes_unlearn.journal.FileLockedError` (default
        :data:`bayes_unlearn.journal.LOCK_TIMEOUT`).
    trusted : iterable of str, optional
        Import paths the file may import when the stream reloads it after another writer
        (as in :func:`~bayes_unlearn.load`); a custom model's own builder is reused anyway.

    Examples
    --------
    >>> with bu.ForgetStream(post, "posterior.nc", save_every=100) as stream:  # doctest: +SKIP
    ...     for row_id in incoming_requests:
    ...         ack = stream.forget([row_id])
    """

    def __init__(
        self,
        posterior: Posterior,
        path=None,
        *,
        save_every: int = 100,
        key: Key | None = None,
        random_seed: RandomSeed = None,
        lock_timeout: float | None = None,
        trusted=(),
    ) -> None:
        if not isinstance(posterior, Posterior):
            raise TypeError(
                f"The 'posterior' parameter must be a Posterior. Got {type(posterior).__name__}."
            )
        if not (isinstance(save_every, int | np.integer) and save_every >= 1):
            raise ValueError(
                f"The 'save_every' parameter must be a positive integer. Got {save_every!r}."
            )
        self.path = None if path is None else Path(path)
        if self.path is not None and not self.path.parent.exists():
            raise FileNotFoundError(
                f"The directory of 'path' does not exist: {self.path.parent}. Create it first."
            )
        self.save_every = int(save_every)
        self._key = check_key(key)
        self._rng = get_random_generator(random_seed)
        self._timeout = journal.LOCK_TIMEOUT if lock_timeout is None else float(lock_timeout)
        self._trusted = trusted
        self._posterior = posterior
        self._n_requests = 0
        self._since_save = 0
        self._reff: float | None = None  # of the draws the weights are on; reset by a refresh
        self._seen: tuple | None = None  # journal.state of the file when the stream last wrote
        if self.path is not None:
            with journal.locked(self.path, self._timeout):
                self._start()

    @property
    def posterior(self) -> Posterior:
        """The posterior after every request so far (weighted between refreshes)."""
        return self._posterior

    @property
    def n_requests(self) -> int:
        """Requests applied so far."""
        return self._n_requests

    def forget(self, row_ids) -> Acknowledgement:
        """Apply one request now: the rows are forgotten, and durable, when this returns.

        Parameters
        ----------
        row_ids : sequence of int
            Ids of remaining training rows.

        Returns
        -------
        Acknowledgement

        Raises
        ------
        ValueError
            For unknown, repeated or already forgotten row ids (nothing is recorded).
        FileLockedError
            If another writer holds the file for longer than ``lock_timeout``.
        OSError
            If the journal cannot be written (a full disk, a read-only directory): nothing
            was acknowledged.
        """
        start = time.perf_counter()
        ids = tuple(int(i) for i in np.atleast_1d(np.asarray(row_ids)).ravel())
        if self.path is None:
            return self._apply(ids, start)
        with journal.locked(self.path, self._timeout):
            if journal.state(self.path) != self._seen:
                self._reload()  # another writer changed the file: apply on top of theirs
            journal.append(self.path, journal.entry_for(self._posterior, ids, self._key), self._key)
            self._seen = journal.state(self.path)
            try:
                ack = self._apply(ids, start)
            except BaseException:
                # The request is durable: whoever opens the file next applies it, and so
                # does this stream, which reloads before its next request.
                self._seen = None
                raise
            self._seen = journal.state(self.path)
        return ack

    def _apply(self, ids: tuple[int, ...], start: float) -> Acknowledgement:
        current = self._posterior
        result = self._reweight(current, ids)
        method = registry.REWEIGHT.name
        if not result.diagnostics.reliable:
            fresh = refresh(current, random_seed=self._rng)
            self._reff = None
            result, method = self._reweight(fresh, ids), "refresh + reweight"
            if not result.diagnostics.reliable:
                result = self._quietly(fresh, ids, method=registry.AUTO.name)
                method = f"auto: {result.diagnostics.method}"
        self._posterior = result
        self._n_requests += 1
        self._since_save += 1
        saved = self._since_save >= self.save_every
        if saved:
            self.save()
        return Acknowledgement(
            request=self._n_requests,
            row_ids=ids,
            method=method,
            reliable=result.diagnostics.reliable,
            saved=saved,
            seconds=time.perf_counter() - start,
        )

    def save(self) -> Posterior:
        """Refresh the draws and write them to ``path`` (if given); the stream goes on from them."""
        if self.path is None:
            self._posterior = refresh(self._posterior, random_seed=self._rng)
        else:
            with journal.locked(self.path, self._timeout):
                if journal.state(self.path) != self._seen:
                    self._reload()
                self._posterior = save(
                    self._posterior,
                    self.path,
                    key=self._key,
                    random_seed=self._rng,
                    lock_timeout=self._timeout,
                )
                self._seen = journal.state(self.path)
        self._since_save = 0
        self._reff = None
        return self._posterior

    def _start(self) -> None:
        """Make ``path`` the stream's base: save the posterior there, or check what is there."""
        if not self.path.exists():
            if journal.journal_path(self.path).exists():
                raise journal.PendingRequestsError(
                    f"{str(self.path)!r} is missing but its journal of acknowledged requests "
                    "is there: restore the file, or delete the journal if it is obsolete."
                )
            self._posterior = save(
                self._posterior,
                self.path,
                key=self._key,
                random_seed=self._rng,
                lock_timeout=self._timeout,
            )
        else:
            recorded = journal.recorded_rows(self.path) or set()
            if recorded <= set(self._posterior.forgotten_row_ids.tolist()):
                self._since_save = len(journal.read(self.path, self._key))
            else:
                # The file is ahead of the posterior (another writer since it was read):
                # start from the file, unless the posterior forgot rows the file has not.
                if set(self._posterior.forgotten_row_ids.tolist()) - recorded:
                    journal.check_not_undoing(self.path, self._posterior)
                self._reload()
        self._seen = journal.state(self.path)

    def _reload(self) -> None:
        """Start again from the file and its journal, as another writer left them."""
        from bayes_unlearn.io import load

        model = self._posterior.model
        self._posterior = load(
            self.path,
            key=self._key,
            model=model if model.kind == "custom" else None,
            trusted=self._trusted,
            random_seed=self._rng,
        )
        self._since_save = len(journal.read(self.path, self._key))
        self._reff = None

    def __enter__(self) -> ForgetStream:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self._since_save:
            self.save()  # nothing applied is left unsaved

    def _reweight(self, posterior: Posterior, ids: tuple[int, ...]) -> Posterior:
        from bayes_unlearn.methods.reweight import relative_efficiency

        if self._reff is None:  # once per set of draws: reweighting only moves their weights
            self._reff = relative_efficiency(posterior)
        return self._quietly(posterior, ids, method=registry.REWEIGHT.name, reff=self._reff)

    def _quietly(self, posterior: Posterior, ids, **options) -> Posterior:
        """``unlearn`` whose verdicts the stream acts on itself, not as warnings."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnreliableUnlearningWarning)
            return unlearn(
                posterior, forget=list(ids), key=self._key, random_seed=self._rng, **options
            )

    def __repr__(self) -> str:
        where = f", saving to {self.path}" if self.path else ""
        return (
            f"<ForgetStream: {self._n_requests} requests, {self._since_save} since the last "
            f"save, every {self.save_every}{where}>"
        )

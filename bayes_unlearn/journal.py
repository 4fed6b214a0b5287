"""A posterior file's writer lock and its write-ahead journal of forget requests.

Two files live beside ``post.nc``:

``post.nc.lock``
    Held (:func:`locked`) by the one process that may change ``post.nc``: every
    read-modify-write of the file (``forget --in-place``, :class:`~bayes_unlearn.ForgetStream`,
    :func:`~bayes_unlearn.save` over an existing file) runs under it, so two
    writers never both start from the same old file and the last rename never drops the
    other's request.
``post.nc.journal``
    One line per acknowledged forget request, appended and fsync'd *before* the request is
    acknowledged (:func:`append`), and removed once a save of ``post.nc`` includes it. A line
    names rows by id and, with a key, by keyed fingerprint, never by value; with a key each
    line is signed, chained to the line before it, so an edited or removed line is refused.
    Whoever opens the file (:func:`bayes_unlearn.load`, the CLI, a stream) reads the journal
    first and applies what it holds, so no process serves a posterior
    that ignores an acknowledged erasure, even after a crash between the ack and the save.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from bayes_unlearn._files import fsync_directory

__all__ = [
    "LOCK_TIMEOUT",
    "Entry",
    "FileLockedError",
    "PendingRequestsError",
    "append",
    "check_not_undoing",
    "clear",
    "entry_for",
    "fingerprints_of",
    "journal_path",
    "lock_path",
    "locked",
    "pending",
    "read",
    "recorded_rows",
    "state",
]

#: Seconds a writer waits for another writer's lock before it gives up.
LOCK_TIMEOUT = 60.0


class FileLockedError(TimeoutError):
    """Another writer held the posterior file's lock for longer than the timeout."""


class PendingRequestsError(RuntimeError):
    """A file's journal holds acknowledged requests that cannot be read or applied."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One acknowledged request: the rows it forgets (by id, and by keyed fingerprint)."""

    row_ids: tuple[int, ...]
    fingerprints: tuple[str, ...] = ()


def lock_path(path) -> Path:
    """``post.nc.lock`` beside ``post.nc``."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


def journal_path(path) -> Path:
    """``post.nc.journal`` beside ``post.nc``."""
    path = Path(path)
    return path.with_name(path.name + ".journal")


@contextlib.contextmanager
def locked(path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold ``path``'s writer lock (re-entrant within a thread); :class:`FileLockedError` on timeout."""
    import filelock

    # One lock object per path and process: a save inside a stream's locked request
    # re-enters it instead of waiting for itself.
    lock = filelock.FileLock(lock_path(path), is_singleton=True)
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise FileLockedError(
            f"{str(path)!r} is being changed by another writer (lock {lock_path(path).name} "
            f"held for over {timeout:g} s); try again later or wait longer (lock_timeout)."
        ) from None
    try:
        yield
    finally:
        lock.release()


def state(path) -> tuple:
    """What changes whenever the file or its journal does (inode, size, mtime of each)."""

    def stat(p: Path):
        try:
            st = p.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    return stat(Path(path)), stat(journal_path(path))


def _subkey(key: bytes) -> bytes:
    return hmac.new(key, b"bayes-unlearn/journal", hashlib.sha256).digest()


def _line_mac(key: bytes, previous: str, body: dict) -> str:
    text = previous + json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(_subkey(key), text.encode(), hashlib.sha256).hexdigest()


def _parse(raw: bytes, number: int, name: str) -> tuple[dict, Entry]:
    try:
        line = json.loads(raw)
        ids = line["row_ids"]
        prints = line.get("fingerprints", [])
        if not (
            isinstance(line, dict)
            and set(line) <= {"row_ids", "fingerprints", "mac"}
            and isinstance(ids, list)
            and ids
            and all(type(i) is int and i >= 0 for i in ids)
            and isinstance(prints, list)
            and all(isinstance(p, str) for p in prints)
            and (not prints or len(prints) == len(ids))
        ):
            raise ValueError
    except (ValueError, TypeError, KeyError, RecursionError):
        raise PendingRequestsError(
            f"{name} line {number} is not a forget request (corrupted or edited), so the "
            "acknowledged requests it holds cannot be applied: restore the journal from a "
            "backup, or forget those rows again and delete it."
        ) from None
    return line, Entry(tuple(ids), tuple(prints))


def _read_lines(path) -> list[tuple[dict, Entry]]:
    """The journal's complete lines, parsed (a torn last line is left out)."""
    jpath = journal_path(path)
    try:
        raw = jpath.read_bytes()
    except FileNotFoundError:
        return []
    # A last line without its newline was cut short by a crash before its fsync returned,
    # so it was never acknowledged.
    complete = raw[: raw.rfind(b"\n") + 1]
    return [
        _parse(text, number, jpath.name)
        for number, text in enumerate(complete.splitlines(), start=1)
    ]


def read(path, key: bytes | None = None) -> tuple[Entry, ...]:
    """The acknowledged requests in ``path``'s journal, verified with ``key`` if given.

    Raises
    ------
    PendingRequestsError
        For a corrupted or edited line, a signed journal read without the key, or an
        unsigned one read with it.
    """
    lines = _read_lines(path)
    _verify(lines, key, journal_path(path).name)
    return tuple(entry for _, entry in lines)


def _verify(lines, key: bytes | None, name: str) -> None:
    """Check the chain of signatures."""
    previous = ""
    for number, (line, _) in enumerate(lines, start=1):
        signed = "mac" in line
        if key is None and signed:
            raise PendingRequestsError(
                f"{name} is signed: pass the key it was written with (key=..., --key-file)."
            )
        if key is not None:
            body = {k: v for k, v in line.items() if k != "mac"}
            if not (
                signed and hmac.compare_digest(str(line["mac"]), _line_mac(key, previous, body))
            ):
                raise PendingRequestsError(
                    f"{name} line {number} failed its signature check: the journal was "
                    "edited, or the key is not the one it was written with."
                )
            previous = line["mac"]


def append(path, entry: Entry, key: bytes | None = None) -> None:
    """Append ``entry`` to the journal and fsync it: once this returns, the request is durable.

    Call it under :func:`locked`. On a write error (a full disk, a read-only directory) the
    journal is cut back to what it held, and ``OSError`` says that nothing was recorded.
    """
    jpath = journal_path(path)
    body: dict = {"row_ids": [int(i) for i in entry.row_ids]}
    if entry.fingerprints:
        body["fingerprints"] = list(entry.fingerprints)
    created = not jpath.exists()
    size = 0
    try:
        with open(jpath, "a+b") as fh:
            size = _complete_size(fh)  # a torn, never-acknowledged last line is dropped
            if key is not None:
                # Chained to the last line's signature; readers verify the whole chain.
                fh.seek(0)
                lines = fh.read(size).splitlines()
                last = _parse(lines[-1], len(lines), jpath.name)[0] if lines else {}
                body["mac"] = _line_mac(key, str(last.get("mac", "")), body)
            fh.truncate(size)
            fh.write((json.dumps(body, separators=(",", ":")) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
        if created:
            fsync_directory(jpath.parent)
    except OSError as err:
        _cut_back(jpath, size, created)
        raise OSError(
            err.errno,
            f"could not record the forget request in {str(jpath)!r} "
            f"({os.strerror(err.errno) if err.errno else err}); nothing was acknowledged "
            "and the posterior file is unchanged",
        ) from None


def _complete_size(fh) -> int:
    """Bytes up to the journal's last newline (all of it unless a crash tore the last line)."""
    end = fh.seek(0, os.SEEK_END)
    if end == 0:
        return 0
    fh.seek(end - 1)
    if fh.read(1) == b"\n":
        return end
    fh.seek(0)
    return fh.read().rfind(b"\n") + 1


def _cut_back(jpath: Path, size: int, created: bool) -> None:
    with contextlib.suppress(OSError):
        if created:
            jpath.unlink(missing_ok=True)
        else:
            os.truncate(jpath, size)


def clear(path) -> None:
    """Remove the journal once a save of ``path`` includes every request in it."""
    jpath = journal_path(path)
    try:
        jpath.unlink()
    except FileNotFoundError:
        return
    fsync_directory(jpath.parent)


def recorded_rows(path) -> set[int] | None:
    """Row ids that ``path`` and its journal record as forgotten; None if it is no posterior.

    A light read of the metadata, not verified: it only guards a save from replacing a file
    that records erasures the saved posterior does not honour.
    """
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            meta = json.loads(fh.attrs["bayes_unlearn"])
        history = meta["history"]
        rows = {int(i) for req in history for i in req["row_ids"]}
    except Exception:  # any file that is not a readable posterior records nothing here
        return None
    with contextlib.suppress(PendingRequestsError):
        rows.update(i for entry in read(path) for i in entry.row_ids)
    return rows


def check_not_undoing(path, posterior) -> None:
    """Refuse to replace ``path`` if it records erasures that ``posterior`` does not include."""
    path = Path(path)
    recorded = recorded_rows(path) if path.exists() else None
    if not recorded:
        return
    undone = sorted(recorded - set(posterior.forgotten_row_ids.tolist()))
    if undone:
        raise ValueError(
            f"{str(path)!r} records forgotten rows that this posterior still holds "
            f"({len(undone)}, e.g. {undone[:5]}): writing over it would undo those erasures. "
            "Load the file and forget on top of it (bu.load), write elsewhere, or delete the "
            "file first if you mean to replace it."
        )


def entry_for(posterior, row_ids, key: bytes | None = None) -> Entry:
    """The journal entry of a request, validated as ``unlearn`` validates it (``ValueError``)."""
    from bayes_unlearn._validation import check_forget

    rows = check_forget(
        row_ids,
        remaining=posterior.row_ids,
        history=[req["row_ids"] for req in posterior.history],
    )
    ids = tuple(int(i) for i in rows)
    return Entry(ids, fingerprints_of(posterior, ids, key) if key is not None else ())


def fingerprints_of(posterior, row_ids, key: bytes) -> tuple[str, ...]:
    """Keyed fingerprints of the posterior's remaining rows ``row_ids``, in that order."""
    from bayes_unlearn.integrity import row_fingerprints

    X, y = posterior.training_data()
    where = {int(r): i for i, r in enumerate(posterior.row_ids)}
    pick = np.array([where[int(i)] for i in row_ids], dtype=np.int64)
    return tuple(row_fingerprints(X[pick], y[pick], key))


def pending(posterior, entries) -> list[Entry]:
    """The entries whose rows the posterior still holds (the rest were saved already)."""
    remaining = set(posterior.row_ids.tolist())
    forgotten = set(posterior.forgotten_row_ids.tolist())
    out = []
    for entry in entries:
        unknown = set(entry.row_ids) - remaining - forgotten
        if unknown:
            raise PendingRequestsError(
                f"the journal names rows {sorted(unknown)[:5]} that are not rows of this "
                "posterior: it belongs to another file."
            )
        if not set(entry.row_ids) <= forgotten:
            out.append(entry)
    return out

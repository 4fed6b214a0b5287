"""Checksums, keyed MACs and keyed row fingerprints for posterior files.

A plain SHA-256 checksum catches damage (truncation, bit rot, a careless edit) but anyone
can recompute it after tampering; a keyed HMAC-SHA256, with a key the data controller keeps
outside the file, also catches deliberate edits. Forget requests name rows by a keyed
fingerprint for the same reason: an unkeyed hash of a row lets whoever holds the file
confirm a guessed row by hashing it, a keyed one does not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import numpy as np

__all__ = ["Key", "check_key", "file_checksum", "file_mac", "row_fingerprints"]

Key = bytes | str


def check_key(key: Key | None, name: str = "key") -> bytes | None:
    """Return the key as bytes (str is UTF-8 encoded), or None; refuse empty or odd keys."""
    if key is None:
        return None
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray):
        raise TypeError(
            f"The {name!r} parameter must be bytes or str (a secret kept outside the file). "
            f"Got {type(key).__name__}."
        )
    if len(key) < 16:
        raise ValueError(
            f"The {name!r} parameter must be at least 16 bytes long; use e.g. "
            "secrets.token_bytes(32) and keep it outside the posterior file."
        )
    return bytes(key)


def _subkey(key: bytes, purpose: str) -> bytes:
    """Independent keys for independent uses of one user key."""
    return hmac.new(key, f"bayes-unlearn/{purpose}".encode(), hashlib.sha256).digest()


def row_fingerprints(X: np.ndarray, y: np.ndarray, key: bytes) -> list[str]:
    """Keyed fingerprints (HMAC-SHA256, 32 hex characters) of each row's features and target."""
    sub = _subkey(key, "row-fingerprint")
    rows = np.ascontiguousarray(np.column_stack([X, y]), dtype=np.float64)
    return [hmac.new(sub, r.tobytes(), hashlib.sha256).hexdigest()[:32] for r in rows]


def _digest_arrays(digest, idata, groups) -> None:
    for group in groups:
        ds = getattr(idata, group)
        for name in sorted(ds.variables):
            da = ds[name]
            values = np.ascontiguousarray(da.values)
            header = f"{group}/{name}/{da.dims}/{values.dtype.str}/{values.shape}"
            digest.update(header.encode())
            if values.dtype.kind in "OUS":
                digest.update("\x1f".join(map(str, values.ravel())).encode())
            else:
                digest.update(values.tobytes())


def _canonical(meta: dict[str, Any]) -> bytes:
    body = {k: v for k, v in meta.items() if k not in ("checksum", "mac")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def file_checksum(idata, meta: dict[str, Any], groups) -> str:
    """SHA-256 over every stored array (names, dims, dtypes, values) and the metadata."""
    digest = hashlib.sha256()
    _digest_arrays(digest, idata, groups)
    digest.update(b"\x00metadata\x00")
    digest.update(_canonical(meta))
    return digest.hexdigest()


def file_mac(checksum: str, key: bytes) -> str:
    """HMAC-SHA256 of a file checksum under the user's key."""
    return hmac.new(_subkey(key, "file-mac"), checksum.encode(), hashlib.sha256).hexdigest()


def macs_equal(a: str, b: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(a, b)

"""AES-256-GCM encryption of personal details at rest, and pseudonymous keys (DESIGN.md §3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class UnknownKey(LookupError):
    """A row was encrypted under a key id that is not configured."""


class Cipher:
    """Encrypts under the current key id; decrypts under any configured key id."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"current key id {current!r} is not among the configured keys")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise ValueError(f"key {key_id!r} must be 32 bytes for AES-256, got {len(key)}")
        self._keys = {k: AESGCM(v) for k, v in keys.items()}
        self.current = current

    def encrypt(self, plaintext: bytes, associated: bytes) -> tuple[str, bytes]:
        """Return (key id, nonce + ciphertext); `associated` binds it to its row."""
        nonce = os.urandom(NONCE_BYTES)
        return self.current, nonce + self._keys[self.current].encrypt(nonce, plaintext, associated)

    def decrypt(self, key_id: str, blob: bytes, associated: bytes) -> bytes:
        """Decrypt a blob written by `encrypt` under `key_id`."""
        aead = self._keys.get(key_id)
        if aead is None:
            raise UnknownKey(key_id)
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)


def decode_key(text: str) -> bytes:
    """Decode a key given in configuration as base64."""
    return base64.b64decode(text, validate=True)


def pseudonym(pepper: bytes, purpose: str, value: str) -> str:
    """A stable pseudonymous key: HMAC-SHA256(pepper, purpose + value), hex, 32 chars."""
    digest = hmac.new(pepper, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{purpose[0]}{digest[:31]}"

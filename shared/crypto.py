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


# Envelope encryption (issue 23): each submission's details and documents are sealed under its own
# random data key; only the data key, wrapped by a configured key-encryption key, is stored beside
# them. Destroying the wrapped data key makes the ciphertext undecryptable (crypto-shredding), and
# rotating the key-encryption key re-wraps 32 bytes per submission instead of every document.
DATA_KEY_ID = "dek"  # the `key_id` of a row sealed under its submission's data key


class DataKeyDestroyed(LookupError):
    """The row's data key was destroyed (the referral was erased): it can never be decrypted."""


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return AESGCM.generate_key(bit_length=256)


def _wrap_context(owner: str) -> bytes:
    return f"data-key:{owner}".encode()


def wrap_data_key(cipher: Cipher, data_key: bytes, owner: str) -> tuple[str, bytes]:
    """(key id, wrapped data key) under the cipher's current key, bound to its owner's id."""
    return cipher.encrypt(data_key, _wrap_context(owner))


def unwrap_data_key(cipher: Cipher, key_id: str, wrapped: bytes, owner: str) -> bytes:
    """The data key of `owner`, unwrapped with the key-encryption key `key_id`."""
    return cipher.decrypt(key_id, wrapped, _wrap_context(owner))


def seal(data_key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """nonce + AES-256-GCM ciphertext of `plaintext` under a data key."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(data_key).encrypt(nonce, plaintext, associated)


def unseal(data_key: bytes, blob: bytes, associated: bytes) -> bytes:
    """Open a blob written by `seal`."""
    return AESGCM(data_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)

"""Sealing a submission's details and documents under its own data key, and opening rows sealed
either way: under the data key (`key_id` 'dek') or, written before data keys, under a global key."""

from __future__ import annotations

from services.intake.domain.submissions import DataKey
from shared.crypto import (
    DATA_KEY_ID,
    Cipher,
    DataKeyDestroyed,
    new_data_key,
    seal,
    unseal,
    unwrap_data_key,
    wrap_data_key,
)


class DataKeyRing:
    """One submission's data key, plain in memory for the moment it is used, and wrapped."""

    def __init__(self, submission_id: str, plain: bytes, stored: DataKey) -> None:
        self.submission_id, self._plain, self.stored = submission_id, plain, stored

    @classmethod
    def new(cls, cipher: Cipher, submission_id: str) -> DataKeyRing:
        """A fresh data key for the submission, wrapped under the current key-encryption key."""
        plain = new_data_key()
        key_id, wrapped = wrap_data_key(cipher, plain, submission_id)
        return cls(submission_id, plain, DataKey(submission_id, key_id, wrapped))

    @classmethod
    def of(cls, cipher: Cipher, stored: DataKey) -> DataKeyRing:
        """The stored key, unwrapped; DataKeyDestroyed when it was erased."""
        if stored.wrapped is None or stored.key_id is None:
            raise DataKeyDestroyed(stored.submission_id)
        plain = unwrap_data_key(cipher, stored.key_id, stored.wrapped, stored.submission_id)
        return cls(stored.submission_id, plain, stored)

    def seal(self, plaintext: bytes, associated: bytes) -> tuple[str, bytes]:
        """(key id 'dek', blob) of the plaintext under this data key."""
        return DATA_KEY_ID, seal(self._plain, plaintext, associated)

    def open(self, blob: bytes, associated: bytes) -> bytes:
        """A blob this data key sealed."""
        return unseal(self._plain, blob, associated)

    def rewrapped(self, cipher: Cipher) -> DataKey:
        """The same data key wrapped under the current key-encryption key."""
        key_id, wrapped = wrap_data_key(cipher, self._plain, self.submission_id)
        return DataKey(self.submission_id, key_id, wrapped)


def open_row(cipher: Cipher, key: DataKey | None, key_id: str, blob: bytes, associated: bytes) -> bytes:
    """A stored row's plaintext, whichever way it was sealed; DataKeyDestroyed when its data key
    was destroyed (or is missing)."""
    if key_id != DATA_KEY_ID:
        return cipher.decrypt(key_id, blob, associated)
    if key is None:
        raise DataKeyDestroyed("no data key for a row sealed under one")
    return DataKeyRing.of(cipher, key).open(blob, associated)

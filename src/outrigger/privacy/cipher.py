"""AES-256-GCM sealing of persisted vaults, with key rotation.

A sealed blob is ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag``.
The key id is the first four bytes of SHA-256 over the key, so any key of the ring can open
what it sealed; the first key seals. The vault id is bound as associated data: a blob copied
to another vault id does not open.

The secret file holds one key per line, URL-safe base64 of 32 random bytes
(``VaultCipher.generate_key()`` makes one); the first line is the current key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from outrigger.errors import ConfigError, OutriggerError
from outrigger.optional import require

_VERSION: Final = b"\x01"
_KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


class VaultSealError(OutriggerError):
    """A sealed vault could not be opened: unknown key, wrong vault id, or tampered bytes."""


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


class VaultCipher:
    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigError("privacy vault: at least one key is needed")
        for key in keys:
            if len(key) != _KEY_BYTES:
                raise ConfigError(f"privacy vault: keys are {_KEY_BYTES} bytes, got {len(key)}")
        aead = require("cryptography.hazmat.primitives.ciphers.aead", "privacy")
        self._ring = {_key_id(k): aead.AESGCM(k) for k in keys}
        self._current = _key_id(keys[0])

    @classmethod
    def from_secret_file(cls, path: str | Path) -> VaultCipher:
        lines = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
        try:
            keys = [base64.urlsafe_b64decode(line) for line in lines]
        except ValueError as exc:
            raise ConfigError(f"privacy vault key file {path}: not base64 keys") from exc
        return cls(keys)

    @staticmethod
    def generate_key() -> str:
        return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode()

    def seal(self, plaintext: bytes, vault_id: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        sealed: bytes = self._ring[self._current].encrypt(nonce, plaintext, vault_id.encode())
        return _VERSION + self._current + nonce + sealed

    def open(self, blob: bytes, vault_id: str) -> bytes:
        if blob[:1] != _VERSION or len(blob) < 1 + 4 + _NONCE_BYTES + 16:
            raise VaultSealError("not a sealed vault")
        cipher = self._ring.get(blob[1:5])
        if cipher is None:
            raise VaultSealError("sealed with a key that is not in the key ring")
        nonce, body = blob[5 : 5 + _NONCE_BYTES], blob[5 + _NONCE_BYTES :]
        try:
            opened: bytes = cipher.decrypt(nonce, body, vault_id.encode())
        except Exception as exc:  # cryptography's InvalidTag: tampered or wrong vault id
            raise VaultSealError("the sealed vault does not authenticate") from exc
        return opened

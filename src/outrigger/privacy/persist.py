"""Vaults that outlive a request (async pipelines): sealed, stored by id, and expiring."""

from __future__ import annotations

from outrigger.privacy.base import VaultStore
from outrigger.privacy.cipher import VaultCipher
from outrigger.privacy.vault import Vault


class PersistedVaults:
    def __init__(self, store: VaultStore, cipher: VaultCipher, ttl_s: float) -> None:
        self._store = store
        self._cipher = cipher
        self._ttl = ttl_s

    async def save(self, vault_id: str, vault: Vault) -> None:
        await self._store.put(vault_id, self._cipher.seal(vault.to_bytes(), vault_id), self._ttl)

    async def load(self, vault_id: str) -> Vault | None:
        """The vault, or None when it is missing or has expired (raises if tampered with)."""
        sealed = await self._store.get(vault_id)
        if sealed is None:
            return None
        return Vault.from_bytes(self._cipher.open(sealed, vault_id))

    async def discard(self, vault_id: str) -> None:
        await self._store.delete(vault_id)

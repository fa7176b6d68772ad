"""Privacy: PII detection (regex + a bundled name tagger by default, Presidio, or regex only),
reversible pseudonyms with a per-request vault and streaming re-hydration, persisted encrypted
vaults, event sanitisation.

Nothing here imports Presidio, spaCy or cryptography until a full detector or a vault cipher
is built (the ``privacy`` extra).
"""

from outrigger.privacy.base import Detector, Span, VaultStore
from outrigger.privacy.cipher import VaultCipher, VaultSealError
from outrigger.privacy.entities import ALL_ENTITIES, STRUCTURED, TAGS
from outrigger.privacy.factory import open_detector
from outrigger.privacy.fast import RegexDetector
from outrigger.privacy.names import NameTagger
from outrigger.privacy.persist import PersistedVaults
from outrigger.privacy.policy import NAME_MODES, Mode, PrivacyConfig, PrivacyPolicy
from outrigger.privacy.presidio_detector import PresidioDetector
from outrigger.privacy.sanitize import (
    EventPrivacy,
    EventSanitizer,
    FieldRule,
    SaltedHasher,
    SanitizationConfig,
    Sanitized,
)
from outrigger.privacy.standard import StandardDetector
from outrigger.privacy.stores import MemoryVaultStore, SqlVaultStore
from outrigger.privacy.streaming import StreamRehydrator
from outrigger.privacy.vault import PLACEHOLDER, Pseudonymizer, Vault

__all__ = [
    "ALL_ENTITIES",
    "NAME_MODES",
    "PLACEHOLDER",
    "STRUCTURED",
    "TAGS",
    "Detector",
    "EventPrivacy",
    "EventSanitizer",
    "FieldRule",
    "MemoryVaultStore",
    "Mode",
    "NameTagger",
    "PersistedVaults",
    "PresidioDetector",
    "PrivacyConfig",
    "PrivacyPolicy",
    "Pseudonymizer",
    "RegexDetector",
    "SaltedHasher",
    "SanitizationConfig",
    "Sanitized",
    "Span",
    "SqlVaultStore",
    "StandardDetector",
    "StreamRehydrator",
    "Vault",
    "VaultCipher",
    "VaultSealError",
    "VaultStore",
    "open_detector",
]

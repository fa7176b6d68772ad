"""Console sessions, kept in the proxy's database so that every gateway replica knows them.

The session id is 256 random bits sent only in the cookie; the database holds its SHA-256
(a copy of the table signs nobody in). A session ends at ``expires_at`` (absolute), after
``idle_s`` without a request, at sign-out, and as soon as the API key it was opened with is
revoked or expires: the key is looked up again on every request, roles included.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from outrigger.storage.db import Database
from outrigger.storage.schema import api_keys, console_sessions
from outrigger.storage.tenants import roles_of

#: The roles that open the console; a key needs at least one.
CONSOLE_ROLES = frozenset({"admin", "auditor", "viewer"})
#: last_seen is written at most this often per session (not on every request).
_TOUCH_S = 30.0


@dataclass(frozen=True)
class Session:
    token: str  # the cookie's value: never stored
    key_id: str
    tenant_id: str
    roles: frozenset[str]
    #: Keys of the operator tenant see every tenant and the deployment's pages.
    operator: bool

    @property
    def actor(self) -> str:
        """Who the audit chain names for this session's changes: the key's id (as for
        reads of the trail over HTTP)."""
        return self.key_id

    @property
    def prefix(self) -> str:
        return f"ork-{self.key_id}"

    @property
    def csrf(self) -> str:
        """The session's CSRF token: an HMAC of a constant under the session id, so it is
        fixed for the session, checkable without storage, and useless without the cookie."""
        return hmac.new(self.token.encode(), b"outrigger-console-csrf", hashlib.sha256).hexdigest()

    def can(self, role: str) -> bool:
        return role in self.roles

    def sees(self, tenant_id: str) -> bool:
        return self.operator or tenant_id == self.tenant_id


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    def __init__(
        self,
        db: Database,
        ttl_s: float,
        idle_s: float,
        operator_tenant: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.idle_s = idle_s
        self.operator_tenant = operator_tenant
        self._clock = clock

    def open(self, key_id: str) -> str:
        """A new session for the key; returns its id (for the cookie). Expired sessions of
        every key are removed on the way."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        t = console_sessions
        with self.db.engine.begin() as conn:
            conn.execute(t.delete().where(t.c.expires_at <= now))
            conn.execute(
                t.insert().values(
                    id_hash=_digest(token),
                    key_id=key_id,
                    created_at=now,
                    expires_at=now + self.ttl_s,
                    last_seen=now,
                )
            )
        return token

    def get(self, token: str) -> Session | None:
        """The live session of ``token``, with its key's current roles; None when it is
        unknown, expired, idle too long, or its key is revoked or expired."""
        now = self._clock()
        t, k = console_sessions, api_keys
        query = (
            sa.select(t.c.key_id, t.c.expires_at, t.c.last_seen, k.c.tenant_id, k.c.roles)
            .join(k, k.c.id == t.c.key_id)
            .where(t.c.id_hash == _digest(token), k.c.revoked_at.is_(None))
            .where(sa.or_(k.c.expires_at.is_(None), k.c.expires_at > now))
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.expires_at <= now or row.last_seen + self.idle_s <= now:
            return None
        if now - row.last_seen >= _TOUCH_S:
            with self.db.engine.begin() as conn:
                conn.execute(t.update().where(t.c.id_hash == _digest(token)).values(last_seen=now))
        operator = self.operator_tenant is not None and row.tenant_id == self.operator_tenant
        return Session(token, row.key_id, row.tenant_id, roles_of(row.roles), operator)

    def close(self, token: str) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(
                console_sessions.delete().where(console_sessions.c.id_hash == _digest(token))
            )

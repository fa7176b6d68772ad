"""The ``console`` settings section (pydantic only: the configuration tree mounts it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Serve the console under ``/console`` wherever the gateway runs.
    enabled: bool = True
    #: Keys of this tenant see every tenant and the deployment's own pages (dead letters,
    #: models, pipelines); keys of any other tenant see only their own tenant. None: no
    #: key sees more than its own tenant.
    operator_tenant: str | None = None
    #: A session ends this long after sign-in, whatever its activity ...
    session_ttl_s: float = Field(default=8 * 3600, gt=0)
    #: ... or after this long without a request.
    idle_timeout_s: float = Field(default=30 * 60, gt=0)
    #: The session cookie's Secure flag. None: set when the request came over HTTPS (TLS
    #: served by the gateway, or X-Forwarded-Proto from a proxy uvicorn trusts through
    #: FORWARDED_ALLOW_IPS); true: always (TLS ends in front of an untrusted hop).
    secure_cookie: bool | None = None

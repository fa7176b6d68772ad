"""Who is calling: the client's address as uvicorn reports it (the peer, or the address in
``X-Forwarded-For`` when the proxy in front is trusted: ``FORWARDED_ALLOW_IPS``)."""

from __future__ import annotations

from fastapi import Request


def client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None

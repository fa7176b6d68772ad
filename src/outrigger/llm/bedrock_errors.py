"""The AWS SDK's failures as ``ProviderError``s, for the Bedrock adapter.

A service error's kind comes from its code (``ThrottlingException`` ...), the same whether it
came as an HTTP error or as an exception event in the middle of a stream; an unknown code
falls back to its HTTP status. Messages keep AWS's own text, cut short and with anything
shaped like an access key id removed; a refused signature says so without AWS's text (which
quotes the canonical request). Missing credentials, an unknown profile or no region are
``unavailable``: this deployment cannot answer until it is configured, another one may.
"""

from __future__ import annotations

import re
from typing import Any

from outrigger.llm.http import MESSAGE_CHARS, REDACTED, retry_after_s
from outrigger.llm.types import ErrorKind, ProviderError

#: Error codes by kind, lower-cased (stream exception events spell them ``throttlingException``).
CODES: dict[str, ErrorKind] = {
    "throttlingexception": "rate_limited",
    "toomanyrequestsexception": "rate_limited",
    "serviceunavailableexception": "server",
    "internalserverexception": "server",
    "modelnotreadyexception": "server",
    "modelerrorexception": "server",
    "modelstreamerrorexception": "server",
    "modeltimeoutexception": "timeout",
    "validationexception": "client",
    "accessdeniedexception": "client",
    "resourcenotfoundexception": "client",
}
SIGNATURE_CODES = frozenset(
    {"invalidsignatureexception", "signaturedoesnotmatch", "unrecognizedclientexception"}
)
CONFIG_ERRORS = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "ProfileNotFound",
        "NoRegionError",
        "InvalidConfigError",
    }
)
_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{12,}\b")
_VALUE = re.compile(r"value: .*?, type:", re.DOTALL)


def provider_error(name: str, exc: BaseException) -> ProviderError | None:
    """``exc`` as a ``ProviderError``, or None when it is not the SDK's (a bug of ours)."""
    from botocore.exceptions import (  # type: ignore[import-untyped]
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        ParamValidationError,
        ReadTimeoutError,
    )
    from urllib3.exceptions import HTTPError
    from urllib3.exceptions import ReadTimeoutError as StreamReadTimeout

    if isinstance(exc, ClientError):
        return _service_error(name, exc.response)
    # A timeout before the answer is the SDK's; one between streamed events is urllib3's.
    if isinstance(exc, ReadTimeoutError | ConnectTimeoutError | StreamReadTimeout):
        return ProviderError("timeout", f"provider {name} timed out ({type(exc).__name__})")
    if type(exc).__name__ in CONFIG_ERRORS:
        # These messages name the missing piece (a profile, a region), never a secret.
        return ProviderError("unavailable", f"provider {name} is not configured: {exc}")
    if isinstance(exc, ParamValidationError):
        # botocore's report quotes the offending values (prompt text): keep the names only.
        return ProviderError("client", f"provider {name}: {_clean(_VALUE.sub('type:', str(exc)))}")
    if isinstance(exc, BotoCoreError | HTTPError | ConnectionError):
        return ProviderError(
            "connection", f"provider {name} connection failed: {type(exc).__name__}"
        )
    return None


def _service_error(name: str, response: dict[str, Any]) -> ProviderError:
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    code = str(error.get("Code") or "")
    status = meta.get("HTTPStatusCode")
    status = int(status) if status else None
    kind = CODES.get(code.lower()) or _status_kind(status)
    if code.lower() in SIGNATURE_CODES:
        text = "the request's signature or credentials were refused (check the AWS credentials)"
    else:
        text = _clean(str(error.get("Message") or ""))
    retry_after = retry_after_s(meta.get("HTTPHeaders") or {})
    message = f"provider {name} answered {status or 'an error'} {code}: {text}"
    return ProviderError(kind, message, status, retry_after if kind != "client" else None)


def _status_kind(status: int | None) -> ErrorKind:
    if status == 429:
        return "rate_limited"
    if status is None or status >= 500:
        return "server"
    return "client"


def _clean(text: str) -> str:
    text = _ACCESS_KEY.sub(REDACTED, text)
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + "…"

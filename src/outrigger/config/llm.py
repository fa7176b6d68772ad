"""Settings of the LLM proxy: providers, deployments, aliases, routing, limits and prices.

These nest under ``Settings.llm`` and ``Settings.tenancy``. Their natural home is the YAML
file named by ``OUTRIGGER_CONFIG_FILE`` (dicts and lists are awkward in environment
variables); any single value can still be overridden by an ``OUTRIGGER_...`` variable.
Provider keys never appear here: a provider names the *file* holding its key (a mounted
Kubernetes Secret) or, for local development only, an environment variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from outrigger.secrets import secret_value

ProviderKind = Literal[
    "openai",
    "azure",
    "ollama",
    "vllm",
    "llamacpp",
    "local",
    "anthropic",
    "ollama_native",
    "bedrock",
]
#: Kinds whose endpoint is derived (``local`` runs in process; ``bedrock`` from ``aws_region``).
NO_URL_KINDS = frozenset({"local", "bedrock"})
LOCAL_DEPLOYMENT = "smollm2-local"
DEFAULT_ALIAS = "chat-default"
MAX_REQUEST_BYTES = 1_048_576


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSettings(_Section):
    #: ``openai``/``ollama``/``vllm``/``llamacpp`` speak the OpenAI API at ``base_url``;
    #: ``azure`` adds the deployment path, ``api-version`` and the ``api-key`` header;
    #: ``local`` runs a GGUF model in process (extra ``local-llm``); ``anthropic`` speaks the
    #: Messages API, ``ollama_native`` Ollama's own ``/api/chat``, ``bedrock`` the Bedrock
    #: Converse API through the AWS SDK (credentials from the SDK's usual chain).
    kind: ProviderKind = "openai"
    base_url: str | None = None  # e.g. https://api.openai.com/v1, http://ollama:11434/v1
    api_key_file: Path | None = None  # a mounted secret; the only way for production
    api_key_env: str | None = None  # name of an environment variable; development only
    api_version: str = "2024-10-21"  # Azure OpenAI
    timeout_s: float = Field(default=60.0, gt=0)  # whole request (plain) / between chunks
    connect_timeout_s: float = Field(default=3.0, gt=0)
    model_path: Path | None = None  # ``local``: a GGUF file (default: SmolLM2-135M-Instruct)
    max_connections: int = Field(default=100, ge=1)
    anthropic_version: str = "2023-06-01"  # ``anthropic``: the ``anthropic-version`` header
    aws_region: str | None = None  # ``bedrock``: the AWS region the endpoint lives in
    aws_profile: str | None = None  # ``bedrock``: a named profile instead of the default chain

    @model_validator(mode="after")
    def _needs_url(self) -> ProviderSettings:
        if self.kind == "bedrock" and not (self.aws_region or self.base_url):
            raise ValueError("a provider of kind 'bedrock' needs aws_region (or base_url)")
        if self.kind not in NO_URL_KINDS and not self.base_url:
            raise ValueError(f"a provider of kind {self.kind!r} needs base_url")
        return self


class DeploymentSettings(_Section):
    provider: str
    model: str  # the upstream model name (Azure: the deployment name)
    region: str = "global"  # data residency: tenants pinned to a region only use its deployments
    #: Prices in USD per million tokens.
    input_price: float = Field(default=0.0, ge=0)
    output_price: float = Field(default=0.0, ge=0)
    #: Overrides the provider's ``timeout_s`` for this deployment (a slow, large model).
    timeout_s: float | None = Field(default=None, gt=0)
    #: Share of the alias's calls under the ``weighted`` strategy (relative to the others).
    weight: float = Field(default=1.0, gt=0)
    #: The provider's quota for this deployment, shared by every gateway replica (through
    #: ``tenancy.redis_url``); a deployment at its quota is skipped, not failed.
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


#: How an alias spreads calls over its deployments. ``ordered``: the first available one,
#: the others only as fallbacks; ``weighted``: at random in proportion to ``weight``;
#: ``least_inflight``: the one with the fewest calls in progress in this process;
#: ``latency``: the one with the lowest recent latency (an untried one first). Every
#: strategy skips open circuits, deployments cooling down after a 429 and those at their
#: quota, and falls back to the rest in the same order.
Strategy = Literal["ordered", "weighted", "least_inflight", "latency"]


class RouteRule(_Section):
    """When a request for ``alias`` matches every condition given, use ``use`` instead."""

    alias: str = DEFAULT_ALIAS
    use: str
    feature: str | None = None
    min_prompt_tokens: int | None = Field(default=None, ge=0)
    min_complexity: float | None = Field(default=None, ge=0, le=1)


class RetrySettings(_Section):
    attempts: int = Field(default=2, ge=1, le=10)  # per deployment, before falling back
    backoff_initial_s: float = Field(default=0.05, ge=0)
    backoff_max_s: float = Field(default=2.0, ge=0)
    #: A deployment that answers 429 is skipped for its ``Retry-After`` (this long when it
    #: gives none); when no other deployment can take the call, the proxy waits for it if
    #: that is at most ``max_retry_after_s``.
    rate_limit_cooldown_s: float = Field(default=1.0, ge=0)
    max_retry_after_s: float = Field(default=10.0, ge=0)


class CircuitSettings(_Section):
    failure_threshold: int = Field(default=5, ge=1)  # consecutive failures that open it
    open_s: float = Field(default=30.0, gt=0)  # how long it stays open before a probe
    half_open_probes: int = Field(default=1, ge=1)  # successes that close it again


class LlmSettings(_Section):
    providers: dict[str, ProviderSettings] = {"local": ProviderSettings(kind="local")}
    deployments: dict[str, DeploymentSettings] = {
        LOCAL_DEPLOYMENT: DeploymentSettings(
            provider="local", model="smollm2-135m-instruct", region="local"
        )
    }
    #: A model alias maps to deployments in fallback order.
    aliases: dict[str, list[str]] = {DEFAULT_ALIAS: [LOCAL_DEPLOYMENT]}
    #: Per alias; an alias not named here is ``ordered``.
    balancing: dict[str, Strategy] = {}
    routes: list[RouteRule] = []
    retry: RetrySettings = RetrySettings()
    circuit: CircuitSettings = CircuitSettings()
    #: Answered (plain or streamed) when every deployment of the alias is unavailable;
    #: ``None`` answers 503 instead.
    fallback_answer: str | None = (
        "The assistant is temporarily unavailable. Please try again in a few minutes."
    )
    #: A request body over this is answered 413 while it is read (any transfer encoding).
    max_request_bytes: int = Field(default=MAX_REQUEST_BYTES, ge=1024)
    #: The largest ``max_tokens`` / ``max_completion_tokens`` a request may ask for; more
    #: is a 400 before any provider is asked.
    max_output_tokens: int = Field(default=32_768, ge=1)

    @model_validator(mode="after")
    def _references(self) -> LlmSettings:
        problems = [
            f"deployments.{name}.provider: no provider named {dep.provider!r}"
            for name, dep in self.deployments.items()
            if dep.provider not in self.providers
        ]
        for alias, names in self.aliases.items():
            if not names:
                problems.append(f"aliases.{alias}: needs at least one deployment")
            problems += [
                f"aliases.{alias}: no deployment named {n!r}"
                for n in names
                if n not in self.deployments
            ]
        problems += [
            f"balancing.{alias}: no alias named {alias!r}"
            for alias in self.balancing
            if alias not in self.aliases
        ]
        for i, rule in enumerate(self.routes):
            problems += [
                f"routes[{i}]: no alias named {a!r}"
                for a in (rule.alias, rule.use)
                if a not in self.aliases
            ]
        if problems:
            raise ValueError("; ".join(problems))
        return self


class TierSettings(_Section):
    monthly_calls: int | None = Field(default=None, ge=0)  # None: unlimited
    rpm: int | None = Field(default=None, ge=1)  # requests per minute
    tpm: int | None = Field(default=None, ge=1)  # tokens per minute
    #: USD a month per tenant of the tier (a tenant may have its own); None: no budget.
    monthly_budget_usd: float | None = Field(default=None, ge=0)


class FeatureLimits(_Section):
    rpm: int | None = Field(default=None, ge=1)  # per tenant and feature
    tpm: int | None = Field(default=None, ge=1)
    monthly_budget_usd: float | None = Field(default=None, ge=0)  # per tenant and feature


class BudgetSettings(_Section):
    """Monthly budgets in USD (tenant, key, feature): an alert at each ``alert_at`` share
    spent, a 429 once it is all spent."""

    #: Shares of a budget whose crossing sends one ``ThresholdReached`` alert each.
    alert_at: list[float] = Field(default=[0.8, 1.0], min_length=0)
    #: Alerts go to the bus as CloudEvents (``bus.result_exchange`` or ``bus.exchange``)
    #: with this routing key; None: not to the bus.
    routing_key: str | None = "outrigger.budget.threshold_reached"
    #: Also POSTed here, signed with HMAC-SHA256 of the body (``X-Outrigger-Signature``).
    webhook_url: str | None = None
    webhook_secret_file: Path | None = None
    webhook_secret_env: str | None = None  # development only

    @model_validator(mode="after")
    def _shares(self) -> BudgetSettings:
        if any(not 0 < share <= 1 for share in self.alert_at):
            raise ValueError("budgets.alert_at: each share must be in (0, 1]")
        if self.webhook_url and not (self.webhook_secret_file or self.webhook_secret_env):
            raise ValueError("budgets.webhook_url needs webhook_secret_file to sign alerts")
        return self


class TenancySettings(_Section):
    tiers: dict[str, TierSettings] = {
        "free": TierSettings(monthly_calls=1_000, rpm=20, tpm=20_000),
        "standard": TierSettings(monthly_calls=100_000, rpm=600, tpm=400_000),
        "enterprise": TierSettings(),
    }
    features: dict[str, FeatureLimits] = {}
    #: Shared limit counters across gateway replicas; in-process counters when unset.
    redis_url: SecretStr | None = None
    redis_url_file: Path | None = None
    #: How long a verified API key is trusted before the database is asked again (a revoked
    #: key stops working within this time).
    auth_cache_s: float = Field(default=5.0, ge=0)
    budgets: BudgetSettings = BudgetSettings()

    def resolved_redis_url(self) -> str | None:
        if self.redis_url_file is not None:
            return self.redis_url_file.read_text(encoding="utf-8").strip()
        return self.redis_url.get_secret_value() if self.redis_url else None


class GatewaySettings(_Section):
    #: ``outrigger run`` also serves the gateway, in the worker's process and with its proxy
    #: (``outrigger gateway`` serves it alone, whatever this says).
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    #: The ledger and audit writers flush a batch this often (and on shutdown).
    flush_interval_s: float = Field(default=0.2, gt=0)
    flush_batch: int = Field(default=500, ge=1)
    #: Ledger rows or audit records waiting to be written (the database out of reach) from
    #: which new LLM calls are refused with 503 ``records_backlogged``: no call goes
    #: unrecorded for long, and the memory they hold is bounded (about 600 bytes a record).
    max_unwritten_records: int = Field(default=100_000, ge=1)
    #: The request line and headers together; more is answered 431 and the connection
    #: closed, before the rest is read or parsed.
    max_header_bytes: int = Field(default=65_536, ge=4096)
    #: Slow clients are cut off: a connection whose request line and headers are not all in
    #: this long after it opened (or after the request's first byte) gets a 408 and is
    #: closed; so is a request whose body takes longer than ``body_timeout_s`` to arrive.
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    #: Failed sign-ins (an unknown, revoked, expired or malformed key) allowed in a sliding
    #: minute per client address and per key prefix; past either, attempts are answered 429
    #: before the key is looked up. Behind a load balancer the address is the balancer's
    #: unless uvicorn trusts its forwarded headers (``FORWARDED_ALLOW_IPS``); 0: no limit.
    auth_failures_per_address: int = Field(default=60, ge=0)
    auth_failures_per_key: int = Field(default=10, ge=0)
    #: Serve HTTPS with these PEM files (a mounted Kubernetes TLS secret).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: Refuse to start without TLS (the Helm chart's compliance profile sets it).
    require_tls: bool = False
    #: How often the certificate and key files are checked for a change; a changed, valid
    #: pair serves new connections without a restart (a rotated Secret), an invalid one is
    #: logged and the current certificate kept.
    tls_reload_s: float = Field(default=10.0, gt=0)
    #: The passphrase of an encrypted key file; a mounted secret file wins over the value.
    #: The file is read again whenever the certificate files change (a Secret rotating key
    #: and passphrase together). Without one, an encrypted key is an error, never a prompt.
    tls_key_password: SecretStr | None = None
    tls_key_password_file: Path | None = None

    @model_validator(mode="after")
    def _tls(self) -> GatewaySettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("gateway: tls_cert_file and tls_key_file go together")
        has_password = self.tls_key_password is not None or self.tls_key_password_file
        if has_password and self.tls_key_file is None:
            raise ValueError("gateway: tls_key_password needs tls_key_file")
        if self.require_tls and self.tls_cert_file is None:
            raise ValueError("gateway.require_tls: set tls_cert_file and tls_key_file")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    def key_password(self) -> str | None:
        """The key's passphrase now (the file, which wins, is read on every call); None when
        unset."""
        return secret_value(
            self.tls_key_password_file, self.tls_key_password, "gateway.tls_key_password"
        )

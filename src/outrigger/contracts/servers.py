"""The AsyncAPI ``servers`` of a deployment: the configured broker, never its credentials.

Hosts come from the broker URLs with the user name, password and query dropped (a URL read
from a mounted secret file is read the way the bus reads it, and only its host, port and path
are kept). Kafka's SASL and TLS client certificates appear as security schemes, without the
user name or any secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from outrigger.bus.settings import BusSettings
from outrigger.bus.sqlite import bus_path

_DEFAULT_PORTS = {"amqp": 5672, "amqps": 5671, "nats": 4222, "tls": 4222, "redis": 6379}
_SASL = {"PLAIN": "plain", "SCRAM-SHA-256": "scramSha256", "SCRAM-SHA-512": "scramSha512"}


def host_of(url: str) -> tuple[str, str, str]:
    """(scheme, host[:port], path) of ``url``, without user info or query."""
    parts = urlsplit(url.strip())
    host = parts.hostname or "localhost"
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number: leave it out
        port = None
    return parts.scheme, f"{host}:{port}" if port else host, parts.path


def _rabbitmq(bus: BusSettings) -> dict[str, Any]:
    scheme, host, path = host_of(bus.rabbitmq.resolved_url())
    vhost = unquote(path[1:]) if len(path) > 1 else "/"
    return {
        "host": host,
        "pathname": vhost if vhost.startswith("/") else f"/{vhost}",
        "protocol": "amqps" if scheme == "amqps" else "amqp",
        "protocolVersion": "0.9.1",
        "description": f"RabbitMQ, virtual host `{vhost}`.",
    }


def _nats(bus: BusSettings) -> dict[str, Any]:
    scheme, host, _ = host_of(bus.nats.resolved_url())
    tls = " over TLS" if scheme == "tls" else ""
    return {"host": host, "protocol": "nats", "description": f"NATS JetStream{tls}."}


def _redis(bus: BusSettings) -> dict[str, Any]:
    scheme, host, path = host_of(bus.redis.resolved_url())
    server = {"host": host, "protocol": scheme or "redis", "description": "Redis Streams."}
    if path not in ("", "/"):
        server["pathname"] = path  # the database number
    return server


def _sqs(bus: BusSettings) -> dict[str, Any]:
    sqs = bus.sqs
    if sqs.endpoint_url:
        scheme, host, _ = host_of(sqs.endpoint_url)
        where = f"an SQS-compatible endpoint ({scheme})"
    else:
        host, where = f"sqs.{sqs.region}.amazonaws.com", "Amazon SQS"
    return {
        "host": host,
        "protocol": "sqs",
        "description": f"{where}, region {sqs.region}; credentials from boto3's chain.",
    }


def _embedded(bus: BusSettings, data_dir: Path) -> dict[str, Any]:
    if bus.kind == "memory":
        return {
            "host": "localhost",
            "protocol": "memory",
            "description": "The in-memory bus inside the Outrigger process (tests and "
            "experiments): nothing outside the process can publish to it or read from it, and "
            "nothing survives the process.",
        }
    return {
        "host": "localhost",
        "pathname": str(bus_path(bus, data_dir)),
        "protocol": "sqlite",
        "description": "The embedded bus: a durable single-file queue (SQLite) on the machine "
        "running Outrigger, for one machine with no broker. Other programs reach it through "
        "`outrigger events publish` and `outrigger events tail`, not over a network.",
    }


def kafka_servers(bus: BusSettings) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """One server per bootstrap address, and the security schemes they use."""
    kafka = bus.kafka
    secure = kafka.security_protocol in ("SSL", "SASL_SSL")
    schemes: dict[str, Any] = {}
    if kafka.sasl_mechanism is not None:
        schemes["kafkaSasl"] = {
            "type": _SASL[kafka.sasl_mechanism],
            "description": f"SASL {kafka.sasl_mechanism}; the password from a mounted file.",
        }
    if kafka.ssl_cert_file is not None:
        schemes["kafkaTlsClient"] = {"type": "X509", "description": "A TLS client certificate."}
    addresses = [a.strip() for a in kafka.bootstrap_servers.split(",") if a.strip()]
    servers: dict[str, dict[str, Any]] = {}
    for i, address in enumerate(addresses, start=1):
        _, host, _ = host_of(f"kafka://{address}")
        server: dict[str, Any] = {
            "host": host,
            "protocol": "kafka-secure" if secure else "kafka",
            "description": f"A Kafka bootstrap server ({kafka.security_protocol}).",
        }
        if schemes:
            server["security"] = [{"$ref": f"#/components/securitySchemes/{n}"} for n in schemes]
        servers["kafka" if len(addresses) == 1 else f"kafka-{i}"] = server
    return servers, schemes


def servers_of(bus: BusSettings, data_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``servers`` object and the security schemes it references."""
    kind = bus.kind
    if kind == "kafka":
        return kafka_servers(bus)
    builders = {"rabbitmq": _rabbitmq, "nats": _nats, "redis": _redis, "sqs": _sqs}
    server = builders[kind](bus) if kind in builders else _embedded(bus, data_dir)
    return {kind: server}, {}

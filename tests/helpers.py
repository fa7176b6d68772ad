"""Test helpers shared by unit and integration tests."""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from outrigger.config.load import default_pipelines_file, parse_pipelines
from outrigger.engine.pipeline import PipelineSet, compile_pipelines
from outrigger.errors import TransientError
from outrigger.inference.base import FunctionScorer, TensorSpec

T = TypeVar("T")
NUMERIC = ["seniority", "time", "age", "expenses", "income", "assets", "debt", "amount", "price"]
CATEGORICAL = ["home", "marital", "records", "job"]


def demo_spec_text() -> str:
    """The bundled credit-risk pipeline alone (the ticket-summary pipeline needs the LLM
    proxy; tests/integration/test_llm_step.py covers it)."""
    doc = yaml.safe_load(default_pipelines_file().read_text())
    doc["pipelines"] = [p for p in doc["pipelines"] if p["name"] == "credit-risk-assessment"]
    return yaml.safe_dump(doc, sort_keys=False)


def fake_credit_model(score: Callable[[dict[str, Any]], float]) -> FunctionScorer:
    """A stand-in with the credit-risk model's signature, for policy tests that must control
    the score (the real ONNX model is exercised by the integration tests)."""
    inputs = [TensorSpec(n, "float", (None, 1)) for n in NUMERIC]
    inputs += [TensorSpec(n, "string", (None, 1)) for n in CATEGORICAL]
    outputs = [TensorSpec("label", "int64"), TensorSpec("probabilities", "float", (None, 2))]

    def predict(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        p = np.array([score(r) for r in rows], dtype=np.float32)
        return {"label": (p > 0.5).astype(np.int64), "probabilities": np.stack([1 - p, p], axis=1)}

    return FunctionScorer("credit-risk", "9.9.9-test", inputs, outputs, predict)


def demo_pipelines(
    score: Callable[[dict[str, Any]], float] | None = None, result_exchange: str | None = None
) -> PipelineSet:
    """The demo's pipelines with a fake model; ``result_exchange``: the loan pipeline's
    publish step names this exchange."""
    text = demo_spec_text()
    if result_exchange is not None:
        doc = yaml.safe_load(text)
        for pipeline in doc["pipelines"]:
            for step in pipeline["steps"]:
                if "publish" in step:
                    step["publish"]["exchange"] = result_exchange
        text = yaml.safe_dump(doc)
    spec = parse_pipelines(text, "demo")
    model = fake_credit_model(score or (lambda row: min(1.0, row["amount"] / 10_000)))
    return compile_pipelines(spec, Path("."), loader=lambda name, spec, base: model)


def demo_yaml_doc() -> dict[str, Any]:
    return yaml.safe_load(demo_spec_text())


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> None:
    async def loop() -> None:
        while not await _value(predicate()):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


async def until_transient_passes(op: Callable[[], Awaitable[T]], timeout_s: float = 30) -> T:
    """``op()``, tried again every 0.2 s while it raises ``TransientError`` (a broker still
    reconnecting, a queue not yet declared again); the last error after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await op()
        except TransientError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _value(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


def self_signed(
    directory: Path,
    key_from: Path | None = None,
    *,
    rsa: bool = False,
    name: str = "localhost",
    password: str | None = None,
) -> tuple[Path, Path]:
    """A new self-signed certificate for localhost (common name ``name``) and its key, as
    ``tls.crt``/``tls.key`` in ``directory``: an EC key, an RSA one with ``rsa``, or the
    key of the (unencrypted) file ``key_from``; the key file is encrypted with ``password``
    when one is given."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    from cryptography.x509.oid import NameOID

    key: Any
    if key_from is not None:
        key = serialization.load_pem_private_key(key_from.read_bytes(), None)
    elif rsa:
        key = rsa_keys.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    directory.mkdir(parents=True, exist_ok=True)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "tls.crt", directory / "tls.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


def der(certfile: Path) -> bytes:
    """The DER bytes of a PEM certificate file."""
    return ssl.PEM_cert_to_DER_cert(certfile.read_text())


def install_pair(live: tuple[Path, Path], new: tuple[Path, Path]) -> None:
    """Both files swapped in, each atomically (as a Secret volume's update appears)."""
    for target, source in zip(live, new, strict=True):
        os.replace(source, target)

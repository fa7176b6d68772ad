"""The OpenAI-compatible embeddings client, against a tiny server on 127.0.0.1 that serves
``POST /v1/embeddings`` from the local model (so the vectors can be compared)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from outrigger.embeddings import EmbeddingSettings, open_embedder
from outrigger.errors import TransientError

pytest.importorskip("httpx", reason="extra 'embeddings'")
pytest.importorskip("tokenizers", reason="extra 'embeddings'")

from outrigger.embeddings.local import OnnxEmbedder
from outrigger.embeddings.remote import EmbeddingError, OpenAIEmbedder


@dataclass
class Upstream:
    """What the fake server saw, and how it should misbehave."""

    model: OnnxEmbedder
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    mode: str = "ok"  # ok | shuffled | garbage | short | wrong-dim
    base_url: str = ""

    def answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        if self.status != 200:
            return self.status, {"error": {"message": "nope"}}
        if self.mode == "garbage":
            return 200, {"object": "list", "items": []}
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.model.embed(texts) * 3.0  # not normalised: the client must fix that
        data = [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ]
        if self.mode == "shuffled":
            data.reverse()
        if self.mode == "short":
            data = data[:-1]
        if self.mode == "wrong-dim":
            data = [{**d, "embedding": d["embedding"][:10]} for d in data]
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return 200, {"object": "list", "data": data, "model": body["model"], "usage": usage}


@pytest.fixture(scope="module")
def local_model() -> OnnxEmbedder:
    return OnnxEmbedder.minilm(check=False)


@pytest.fixture
def upstream(local_model: OnnxEmbedder) -> Iterator[Upstream]:
    state = Upstream(local_model)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/v1/embeddings":
                self.send_error(404)
                return
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            state.headers.append(dict(self.headers))
            status, answer = state.answer(body)
            blob = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()


def client(upstream: Upstream, **kwargs: Any) -> OpenAIEmbedder:
    return OpenAIEmbedder(upstream.base_url, "all-minilm", 384, api_key="sk-test", **kwargs)


def test_vectors_match_the_model_behind_the_endpoint(upstream: Upstream) -> None:
    texts = ["Where is my parcel?", "Cancel my appointment on Friday", "Refund please"]
    remote = client(upstream).embed(texts)
    np.testing.assert_allclose(remote, upstream.model.embed(texts), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(remote, axis=1), 1.0, atol=1e-5)
    body = upstream.requests[0]
    assert body == {"model": "all-minilm", "input": texts, "encoding_format": "float"}
    assert upstream.headers[0]["Authorization"] == "Bearer sk-test"


def test_batches_requests_and_keeps_order(upstream: Upstream) -> None:
    texts = [f"question number {i}" for i in range(7)]
    remote = client(upstream, batch_size=3).embed(texts)
    assert [len(r["input"]) for r in upstream.requests] == [3, 3, 1]
    np.testing.assert_allclose(remote, upstream.model.embed(texts), atol=1e-5)


def test_rows_are_put_back_in_index_order(upstream: Upstream) -> None:
    upstream.mode = "shuffled"
    texts = ["alpha claim", "beta shipment", "gamma referral"]
    np.testing.assert_allclose(
        client(upstream).embed(texts), upstream.model.embed(texts), atol=1e-5
    )


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_are_transient(upstream: Upstream, status: int) -> None:
    upstream.status = status
    with pytest.raises(TransientError):
        client(upstream).embed(["x"])


def test_client_errors_are_permanent(upstream: Upstream) -> None:
    upstream.status = 400
    with pytest.raises(EmbeddingError, match="400"):
        client(upstream).embed(["x"])


@pytest.mark.parametrize("mode", ["garbage", "short", "wrong-dim"])
def test_malformed_answers_are_refused(upstream: Upstream, mode: str) -> None:
    upstream.mode = mode
    with pytest.raises(EmbeddingError):
        client(upstream).embed(["one", "two"])


def test_an_unreachable_endpoint_is_transient() -> None:
    embedder = OpenAIEmbedder("http://127.0.0.1:9/v1", "m", 384, timeout_s=2.0)
    with pytest.raises(TransientError):
        embedder.embed(["x"])


def test_settings_build_the_remote_client(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_EMBED_KEY", "sk-env")
    settings = EmbeddingSettings(
        kind="openai", base_url=upstream.base_url, model="all-minilm", api_key_env="TEST_EMBED_KEY"
    )
    embedder = open_embedder(settings)
    assert embedder.dim == 384
    assert embedder.model_id == "openai-compatible:all-minilm"
    embedder.embed(["hello"])
    assert upstream.headers[0]["Authorization"] == "Bearer sk-env"
    with pytest.raises(ValueError, match="base_url"):
        EmbeddingSettings(kind="openai")

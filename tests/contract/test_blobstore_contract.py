"""The contract of every model ``BlobStore``: memory, a directory, and S3 (moto's S3 server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from outrigger.registry.base import BlobExists, BlobStore
from outrigger.registry.directory import DirectoryBlobStore
from outrigger.registry.memory import MemoryBlobStore
from outrigger.registry.s3 import S3BlobStore


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is in the dev extra")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_s3(endpoint: str) -> S3BlobStore:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    return S3BlobStore(bucket, prefix="registry", client=client)


@pytest.fixture(params=["memory", "directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    if request.param == "directory":
        return DirectoryBlobStore(tmp_path / "registry")
    return make_s3(request.getfixturevalue("s3_endpoint"))


class TestBlobStoreContract:
    def test_read_missing(self, store: BlobStore) -> None:
        assert store.read("nope/x") is None

    def test_write_read_and_immutability(self, store: BlobStore) -> None:
        store.write("m/versions/1.0.0/model.onnx", b"\x00bytes")
        assert store.read("m/versions/1.0.0/model.onnx") == b"\x00bytes"
        with pytest.raises(BlobExists):
            store.write("m/versions/1.0.0/model.onnx", b"other")
        assert store.read("m/versions/1.0.0/model.onnx") == b"\x00bytes"
        store.write("m/versions/1.0.0/model.onnx", b"new", overwrite=True)
        assert store.read("m/versions/1.0.0/model.onnx") == b"new"

    def test_list_by_prefix_sorted(self, store: BlobStore) -> None:
        for key in ("b/versions/2.0.0/x", "a/versions/1.0.0/x", "a/aliases.json", "ab/x"):
            store.write(key, b"1")
        assert store.list("a/") == ["a/aliases.json", "a/versions/1.0.0/x"]
        assert store.list("") == sorted(
            ["a/aliases.json", "a/versions/1.0.0/x", "ab/x", "b/versions/2.0.0/x"]
        )

    def test_delete(self, store: BlobStore) -> None:
        store.write("k/v", b"1")
        store.delete("k/v")
        store.delete("k/v")
        assert store.read("k/v") is None
        assert store.list("k/") == []


def test_directory_store_refuses_escaping_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        DirectoryBlobStore(tmp_path).write("../outside", b"x")


def test_registry_on_s3_publish_promote_rollback(s3_endpoint: str) -> None:
    from outrigger.registry.gate import promote
    from outrigger.registry.registry import Registry
    from tests.registry_models import BUNDLED

    registry = Registry(make_s3(s3_endpoint))
    for version in ("1.0.0", "1.0.1"):
        registry.publish(BUNDLED, "credit-risk", version)
        promote(registry, "credit-risk", version, "stable")
    assert registry.versions("credit-risk") == ["1.0.0", "1.0.1"]
    assert registry.resolve("credit-risk", "stable") == "1.0.1"
    assert registry.rollback("credit-risk") == ("1.0.1", "1.0.0")
    assert (
        registry.file("credit-risk", "1.0.0", "model.onnx") == (BUNDLED / "model.onnx").read_bytes()
    )

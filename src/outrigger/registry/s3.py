"""An S3-compatible bucket as the model store (AWS S3, MinIO, Ceph, ...), through boto3."""

from __future__ import annotations

from typing import Any

from outrigger.optional import require
from outrigger.registry.base import BlobExists


class S3BlobStore:
    def __init__(
        self, bucket: str, prefix: str = "", client: Any = None, **client_args: Any
    ) -> None:
        if client is None:
            boto3 = require("boto3", "s3")
            client = boto3.client("s3", **client_args)
        self._s3 = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _key(self, key: str) -> str:
        return self.prefix + key

    def read(self, key: str) -> bytes | None:
        try:
            response = self._s3.get_object(Bucket=self.bucket, Key=self._key(key))
        except self._s3.exceptions.NoSuchKey:
            return None
        body: bytes = response["Body"].read()
        return body

    def write(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        if not overwrite and self.read(key) is not None:
            raise BlobExists(key)
        self._s3.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

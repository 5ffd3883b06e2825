"""Which staging files the table has consumed: one ledger object per commit, listing the
staging keys it folded in, referenced by a table property set in that same Iceberg commit.

A crash before the commit leaves an unreferenced ledger and no rows; the retry consumes the
same keys. So the staging keys a committed snapshot holds are known exactly, and never
committed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any
from urllib.parse import urlparse

import orjson
from pyiceberg.table import Table

from k2.config import CommitterSettings

LEDGER_PROPERTY = "k2.ledger."  # + ledger id -> "<created epoch s> <s3 uri>"


class StagingLedger:
    def __init__(self, s3: Any, bucket: str, settings: CommitterSettings) -> None:
        self._s3, self._bucket, self._settings = s3, bucket, settings

    def ledgers(self, table: Table) -> dict[str, tuple[float, str]]:
        """Ledger id -> (created, uri), from the committed table properties."""
        ledgers = {}
        for name, value in table.properties.items():
            if name.startswith(LEDGER_PROPERTY):
                created, uri = value.split(" ", 1)
                ledgers[name.removeprefix(LEDGER_PROPERTY)] = (float(created), uri)
        return ledgers

    def consumed(self, table: Table) -> set[str]:
        """Every staging key a committed ledger lists."""
        consumed: set[str] = set()
        for _, uri in self.ledgers(table).values():
            with suppress(self._s3.exceptions.NoSuchKey):  # its files were already removed
                consumed.update(self.read(uri))
        return consumed

    def write(self, ledger_id: str, keys: Sequence[str]) -> str:
        """Store the keys a commit consumes; returns the ledger's s3:// URI."""
        folder = f"{self._settings.warehouse_prefix}/_ledgers/{self._settings.table_name}"
        key = f"{folder}/{ledger_id}.json"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=orjson.dumps(list(keys)))
        return f"s3://{self._bucket}/{key}"

    def read(self, uri: str) -> list[str]:
        keys: list[str] = orjson.loads(read_object(self._s3, uri))
        return keys

    def delete(self, uri: str) -> None:
        bucket, key = bucket_and_key(uri)
        self._s3.delete_object(Bucket=bucket, Key=key)


def bucket_and_key(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/key` -> ("bucket", "some/key")."""
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def read_object(s3: Any, uri: str) -> bytes:
    bucket, key = bucket_and_key(uri)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def delete_objects(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    """Delete objects 1,000 (DeleteObjects' limit) at a time."""
    for start in range(0, len(keys), 1000):
        objects = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})

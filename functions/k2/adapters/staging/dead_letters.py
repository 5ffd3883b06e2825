"""Dead letters as JSON lines in S3, one object per batch, named by the batch id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from k2.domain.records import DeadLetter


class S3DeadLetters:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self._s3, self._bucket, self._prefix = s3, bucket, prefix.strip("/")

    def write(self, letters: Sequence[DeadLetter], batch_id: str) -> str | None:
        """Store the batch's dead letters; returns the object key (None when there are none)."""
        if not letters:
            return None
        arrival = datetime.fromtimestamp(letters[0].origin.arrival_us / 1e6, UTC)
        key = f"{self._prefix}/arrival_date={arrival:%Y-%m-%d}/{batch_id}.jsonl"
        body = b"".join(orjson.dumps(letter.to_json()) + b"\n" for letter in letters)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)
        return key

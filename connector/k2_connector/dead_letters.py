"""Frames the connector can never deliver, kept with the reason instead of blocking the rest.

A frame Kinesis will never accept (over the 1 MiB record limit with its aggregation envelope,
or refused by PutRecords with a non-retryable error) would otherwise be retried for ever, and
every frame behind it would wait. It goes here: `dead-letters.jsonl` in the journal directory
(the reason, size, SHA-256, whether it was a trade, the first 200 bytes) with the frame itself
beside it, and, when a bucket is set, the same under `connector/dead-letters/` in S3. No
genuine Binance frame is near 1 MiB, so a trade here is an alarm (`trade_dead_letters`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class ConnectorDeadLetters:
    def __init__(
        self, directory: Path, s3: Any = None, bucket: str | None = None,
        prefix: str = "connector/dead-letters",
    ) -> None:  # fmt: skip
        self._folder = directory / "dead-letters"
        self._folder.mkdir(parents=True, exist_ok=True)
        self._index = directory / "dead-letters.jsonl"
        self._s3, self._bucket, self._prefix = s3, bucket, prefix.strip("/")
        self.by_reason: Counter[str] = Counter()
        self.trades = 0

    async def record(self, frame: bytes, reason: str, is_trade: bool) -> None:
        digest = hashlib.sha256(frame).hexdigest()
        name = f"{int(time.time() * 1000)}-{digest[:16]}"
        entry = {
            "reason": reason, "bytes": len(frame), "sha256": digest, "trade": is_trade,
            "file": f"dead-letters/{name}.frame", "at_ms": int(time.time() * 1000),
            "head": frame[:200].decode("utf-8", "replace"),
        }  # fmt: skip
        (self._folder / f"{name}.frame").write_bytes(frame)
        with self._index.open("a") as out:
            out.write(json.dumps(entry) + "\n")
        self.by_reason[reason] += 1
        if is_trade:
            self.trades += 1
            log.error("a TRADE frame cannot be delivered (%s, %d bytes): dead-lettered as %s",
                      reason, len(frame), entry["file"])  # fmt: skip
        else:
            log.warning("frame dead-lettered (%s, %d bytes)", reason, len(frame))
        if self._s3 is not None and self._bucket:
            await self._upload(name, frame, entry)

    async def _upload(self, name: str, frame: bytes, entry: dict[str, Any]) -> None:
        try:
            for key, body in (
                (f"{self._prefix}/{name}.frame", frame),
                (f"{self._prefix}/{name}.json", json.dumps(entry).encode()),
            ):
                await asyncio.to_thread(self._s3.put_object, Bucket=self._bucket, Key=key,
                                        Body=body)  # fmt: skip
        except Exception as error:  # the local copy stands; S3 is the shared one
            log.error("could not write dead letter %s to S3: %r", name, error)

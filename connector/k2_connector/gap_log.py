"""Gap records: which trade ids went missing, and whether backfill recovered them.

Every gap is appended to `gaps.jsonl` beside the journal (always), and when a bucket is set,
written to `s3://<bucket>/<prefix>/market=<M>/symbol=<S>/<first>-<last>.json`, rewritten as
its status moves from `open` to `filled` (every id arrived), `unfillable` (REST passed over
some ids it will never serve: `unserved` of them, and why) or `unfilled` (backfill gave up).
A missing trade is thus never only a log line. Each market's connector has its own key space:
BTCUSDT spot and the BTCUSDT perpetual share trade ids, never gap records.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from k2_connector.sequencer import Gap

log = logging.getLogger(__name__)


class GapLog:
    def __init__(
        self, directory: Path, s3: Any = None, bucket: str | None = None,
        prefix: str = "connector/gaps", market: str = "spot",
    ) -> None:  # fmt: skip
        directory.mkdir(parents=True, exist_ok=True)
        self._local = directory / "gaps.jsonl"
        self._s3, self._bucket, self._prefix = s3, bucket, prefix.strip("/")
        self.market = market

    async def record(
        self, gap: Gap, status: str, unserved: int = 0, reason: str | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "market": self.market, "symbol": gap.symbol, "first_id": gap.first_id,
            "last_id": gap.last_id, "missing": gap.size, "status": status,
            "at_ms": int(time.time() * 1000),
        }  # fmt: skip
        if unserved:
            entry |= {"unserved": unserved, "reason": reason}
        body = json.dumps(entry)
        with self._local.open("a") as out:
            out.write(body + "\n")
        if self._s3 is None or not self._bucket:
            return
        symbol = gap.symbol.partition("@")[0]
        key = (
            f"{self._prefix}/market={self.market}/symbol={symbol}/{gap.first_id}-{gap.last_id}.json"
        )
        try:
            await asyncio.to_thread(
                self._s3.put_object, Bucket=self._bucket, Key=key, Body=body.encode()
            )
        except Exception as error:  # the local record stands; S3 is the shared copy
            log.error("could not write gap record %s to S3: %r", key, error)

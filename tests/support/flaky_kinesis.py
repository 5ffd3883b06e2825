"""A fault-injecting proxy in front of a real Kinesis client (moto server or LocalStack).

Failed entries are *not* forwarded, exactly like Kinesis: a throttled entry is not stored, so a
writer that resends only failed entries produces no duplicates, and one that drops them loses
data. An outage raises what botocore raises when the endpoint is unreachable.
"""

from __future__ import annotations

import random
import time
from typing import Any

from botocore.exceptions import EndpointConnectionError

THROTTLED = {
    "ErrorCode": "ProvisionedThroughputExceededException",
    "ErrorMessage": "Rate exceeded for shard (injected)",
}


def throttled_answer(count: int, failing: set[int], stored: list[dict[str, Any]]) -> dict[str, Any]:
    """The PutRecords answer for `count` entries when those at `failing` were refused and the
    others stored, their results in order in `stored`."""
    passed = iter(stored)
    results = [dict(THROTTLED) if i in failing else next(passed) for i in range(count)]
    return {"FailedRecordCount": len(failing), "Records": results}


class FlakyKinesis:
    def __init__(
        self,
        client: Any,
        fail_fraction: float = 0.0,
        outage_after_s: float | None = None,
        outage_s: float = 0.0,
        seed: int = 1,
    ) -> None:
        self._client, self._fail_fraction = client, fail_fraction
        self._rng = random.Random(seed)
        self._started = time.monotonic()
        self._outage = (outage_after_s, outage_s)
        self.throttled_entries = 0
        self.refused_calls = 0

    def list_shards(self, **request: Any) -> dict[str, Any]:
        return self._client.list_shards(**request)  # the shard map is read without faults

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self._maybe_down()
        failing = {i for i in range(len(Records)) if self._rng.random() < self._fail_fraction}
        passed = [record for i, record in enumerate(Records) if i not in failing]
        stored = (
            self._client.put_records(StreamName=StreamName, Records=passed)["Records"]
            if passed
            else []
        )
        self.throttled_entries += len(failing)
        return throttled_answer(len(Records), failing, stored)

    def _maybe_down(self) -> None:
        after, duration = self._outage
        if after is None:
            return
        elapsed = time.monotonic() - self._started
        if after <= elapsed < after + duration:
            self.refused_calls += 1
            raise EndpointConnectionError(endpoint_url="http://kinesis.injected-outage")

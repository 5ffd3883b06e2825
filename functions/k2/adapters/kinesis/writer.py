"""Put frames into Kinesis as KPL aggregated records, packed per shard, never dropping.

Each frame's partition key is its instrument (`<market>:<SYMBOL>`, k2.domain.instrument: the
writer's market, the frame's symbol). Frames are grouped by the shard their key hashes to
(k2.domain.shards, from ListShards) and packed, in order, into aggregated records of at most
`max_record_bytes` that keep every frame's own key in the record's key table, with an explicit
hash key that routes the record to that shard. So records per trade do not grow with the
number of symbols, each instrument's frames stay on its shard in order, and the normalize
function reads each frame's market from its own key. Records go out in PutRecords calls of at
most 500 records / 5 MiB; only the entries a partial failure names are retried, with
exponential backoff, until they are accepted.

Resharding: the shard map is re-read every `shard_map_ttl_s`. A record packed with a stale map
still lands (Kinesis routes its explicit hash key to the open shard covering it); until the
refresh its frames may share a record with keys of a sibling shard, which costs nothing but
the grouping. Without a map (ListShards refused) records are routed by their first key.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from k2.domain import kpl
from k2.domain.instrument import DEFAULT_MARKET, instrument_key
from k2.domain.shards import ShardRange, ShardRoutes

logger = logging.getLogger(__name__)

MAX_PUT_RECORDS = 500
MAX_PUT_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
_STREAM_SYMBOL = re.compile(rb'"(?:stream":"([a-z0-9_]+)@|s":"([A-Z0-9_]+)")')


def frame_symbol(frame: bytes) -> str:
    """The frame's symbol (upper case) from its stream name or `s` field; `_` if neither."""
    match = _STREAM_SYMBOL.search(frame)
    if not match:
        return "_"
    return (match.group(1) or match.group(2)).decode().upper()


# PutRecords errors that no retry can cure: the request itself is refused (a record over the
# limits, an invalid argument). Throttling, outages and 5xx are transient and retried.
PERMANENT_ERROR_CODES = frozenset({"ValidationException", "InvalidArgumentException"})


def permanent_failure(error: Exception) -> bool:
    """Whether Kinesis refused the request for good (a botocore ClientError with one of the
    codes above), as opposed to being unreachable, throttled or failing for now."""
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in PERMANENT_ERROR_CODES


def fits_in_a_record(frame: bytes, market: str = DEFAULT_MARKET) -> bool:
    """Whether `frame`, alone in an aggregated record with its partition key, is within
    Kinesis' 1 MiB record limit (data plus partition key): otherwise no put can ever succeed."""
    key = instrument_key(market, frame_symbol(frame))
    return kpl.aggregated_size([len(frame)], key) + len(key.encode()) <= MAX_RECORD_BYTES


class PartialPutError(RuntimeError):
    """Kinesis became unreachable mid-put: `unaccepted` are exactly the frames not stored
    (the others are in the stream), so a retry of only these cannot duplicate anything."""

    def __init__(self, unaccepted: list[bytes], cause: Exception) -> None:
        super().__init__(f"{len(unaccepted)} frames not accepted: {cause!r}")
        self.unaccepted = unaccepted


@dataclass
class PutStats:
    frames: int = 0
    records: int = 0
    calls: int = 0
    retried_entries: int = 0


class ShardMap:
    """The stream's open shards (ListShards), re-read every `ttl_s`; the last good map is kept
    when a refresh fails."""

    def __init__(self, kinesis: Any, stream_name: str, ttl_s: float = 60.0) -> None:
        self._kinesis, self._stream, self._ttl_s = kinesis, stream_name, ttl_s
        self._routes, self._read_at = ShardRoutes([]), -float("inf")

    def current(self) -> ShardRoutes:
        if time.monotonic() - self._read_at >= self._ttl_s:
            self._read_at = time.monotonic()
            try:
                self._routes = ShardRoutes(self._open_shards())
            except Exception as error:  # routing by partition key still delivers everything
                logger.warning("cannot read the shard map of %s: %r", self._stream, error)
        return self._routes

    def _open_shards(self) -> list[ShardRange]:
        shards, request = [], {"StreamName": self._stream}
        while True:
            page = self._kinesis.list_shards(**request)
            shards += [
                ShardRange(int(shard["HashKeyRange"]["StartingHashKey"]),
                           int(shard["HashKeyRange"]["EndingHashKey"]), shard["ShardId"])
                for shard in page["Shards"]
                if "EndingSequenceNumber" not in shard["SequenceNumberRange"]
            ]  # fmt: skip
            if not page.get("NextToken"):
                return shards
            request = {"NextToken": page["NextToken"]}


_EMULATOR_PUTS = threading.Lock()


def puts_serialized_for(endpoint_url: str | None) -> AbstractContextManager[Any]:
    """What a writer holds around each PutRecords call: nothing in AWS; with an endpoint
    (moto, LocalStack) one lock for every writer of the process. moto numbers a shard's
    records without a lock (its put_record: "not safe for concurrency"), so two writers
    putting at once - one per market in one process - could draw the same sequence number,
    and one record would silently replace the other. Not reproduced here (the GIL mostly
    serialises it), but nothing is lost by taking turns on an emulator."""
    return _EMULATOR_PUTS if endpoint_url else contextlib.nullcontext()


class KinesisWriter:
    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        max_record_bytes: int = 256 * 1024,
        max_backoff_s: float = 2.0,
        market: str = DEFAULT_MARKET,
        shard_map_ttl_s: float = 60.0,
        put_guard: AbstractContextManager[Any] | None = None,
    ) -> None:
        """`put_guard`: held around each PutRecords call (puts_serialized_for)."""
        self._put_guard = put_guard or contextlib.nullcontext()
        self._kinesis, self._stream, self._market = kinesis, stream_name, market
        self._max_record_bytes = min(max_record_bytes, MAX_RECORD_BYTES)
        self._max_backoff_s = max_backoff_s
        self._shards = ShardMap(kinesis, stream_name, shard_map_ttl_s)
        self.stats = PutStats()

    def put_frames(self, frames: Sequence[bytes]) -> None:
        """Pack per shard (keeping each instrument's order) and put until all are accepted."""
        routes = self._shards.current()
        by_shard: dict[ShardRange | None, list[tuple[str, bytes]]] = {}
        for frame in frames:
            key = instrument_key(self._market, frame_symbol(frame))
            by_shard.setdefault(routes.route(key), []).append((key, frame))
        entries = [
            _Entry.packed(shard, run)
            for shard, keyed in by_shard.items()
            for run in kpl.pack_keyed(keyed, self._max_record_bytes)
        ]
        calls = list(_put_batches(entries))
        for position, call in enumerate(calls):
            try:
                self._put_all(call)
            except Exception as error:
                not_stored = [e for e in call if not e.accepted] + [
                    e for later in calls[position + 1 :] for e in later
                ]
                raise PartialPutError([f for e in not_stored for f in e.frames], error) from error
        self.stats.frames += len(frames)
        self.stats.records += len(entries)

    def _put_all(self, entries: list[_Entry]) -> None:
        """PutRecords, then resend only the failed entries, until none is left.

        A resent entry can land after later entries of its shard; nothing downstream relies
        on arrival order (files are sorted by trade time, the lake deduplicates by trade id).
        """
        pending, attempt = entries, 0
        while pending:
            self.stats.calls += 1
            with self._put_guard:
                response = self._kinesis.put_records(
                    StreamName=self._stream, Records=[entry.record for entry in pending]
                )
            results = response["Records"]
            for entry, result in zip(pending, results, strict=True):
                entry.accepted = "ErrorCode" not in result
            pending = [entry for entry in pending if not entry.accepted]
            if not pending:
                return
            self.stats.retried_entries += len(pending)
            attempt += 1
            time.sleep(min(self._max_backoff_s, 0.05 * 2**attempt))


@dataclass
class _Entry:
    """One aggregated record and the frames inside it."""

    record: dict[str, Any]
    frames: list[bytes]
    accepted: bool = False

    @classmethod
    def packed(cls, shard: ShardRange | None, run: list[tuple[str, bytes]]) -> _Entry:
        """The record for one run of (key, frame): named by its first key, sent to `shard`."""
        record = {"PartitionKey": run[0][0], "Data": kpl.aggregate_keyed(run)}
        if shard is not None:
            record["ExplicitHashKey"] = shard.explicit_hash_key
        return cls(record, [frame for _, frame in run])


def _put_batches(entries: list[_Entry]) -> Iterable[list[_Entry]]:
    batch: list[_Entry] = []
    size = 0
    for entry in entries:
        record_size = len(entry.record["Data"]) + len(entry.record["PartitionKey"])
        if batch and (len(batch) == MAX_PUT_RECORDS or size + record_size > MAX_PUT_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(entry)
        size += record_size
    if batch:
        yield batch

"""Which Kinesis shard a partition key goes to, so one aggregated record can carry many
instruments (Kinesis' own rule: the MD5 of the partition key, as a 128-bit integer, falls in
exactly one open shard's hash-key range). Pure: the ranges come from ListShards elsewhere.

Packing per shard instead of per instrument is what keeps records per trade flat as the
number of symbols grows: at 1,500 symbols a flush holds about one trade per symbol, so
per-instrument records carried ~1.5 trades each; per-shard records carry the whole flush.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ShardRange:
    start: int  # StartingHashKey
    end: int  # EndingHashKey (inclusive)
    shard_id: str

    @property
    def explicit_hash_key(self) -> str:
        """A hash key that Kinesis routes to this shard (while the map is current)."""
        return str(self.start)


def hash_key(partition_key: str) -> int:
    """Kinesis' hash of a partition key."""
    return int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest())


class ShardRoutes:
    """The open shards' ranges; `route` names the one a partition key belongs to."""

    def __init__(self, ranges: Sequence[ShardRange]) -> None:
        self._ranges = sorted(ranges)
        self._starts = [shard.start for shard in self._ranges]
        self._routed: dict[str, ShardRange | None] = {}  # one per instrument: a few thousand

    def __len__(self) -> int:
        return len(self._ranges)

    def route(self, partition_key: str) -> ShardRange | None:
        """The shard whose range holds the key's hash; None when no known range does (an empty
        or stale map: the caller falls back to routing by the partition key alone). Keys are
        hashed once per map: every frame of an instrument has the same key."""
        if partition_key not in self._routed:
            self._routed[partition_key] = self._find(partition_key)
        return self._routed[partition_key]

    def _find(self, partition_key: str) -> ShardRange | None:
        value = hash_key(partition_key)
        position = bisect.bisect_right(self._starts, value) - 1
        if position < 0 or value > self._ranges[position].end:
            return None
        return self._ranges[position]

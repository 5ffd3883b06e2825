"""Kinesis records in, frames out: where each frame came from, what a batch produced, and the
dead letters with their coordinates. Pure: no AWS calls, no exchange format.

A record carries one plain frame, or several in a KPL aggregate; a record that cannot be split
is dead-lettered whole. Every frame is accounted for exactly once downstream: landed as a
trade, counted as a non-trade, or dead-lettered with its reason.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.domain import kpl
from k2.domain.instrument import market_of
from k2.domain.rejects import RejectReason

MAX_RECORD_BYTES = 1024 * 1024  # Kinesis' record limit; a larger payload cannot be genuine


class RecordOrigin(NamedTuple):
    """Where a Kinesis record came from; shared by all frames it carries.

    A NamedTuple rather than a frozen dataclass: one is made per record, and a 10,000-record
    batch builds ten thousand of them.
    """

    shard_id: str
    sequence_number: str
    arrival_us: int
    event_source_arn: str = ""
    partition_key: str = ""  # the instrument key (k2.domain.instrument) of a plain record


@dataclass(frozen=True)
class DeadLetter:
    reason: RejectReason
    detail: str
    raw: bytes
    origin: RecordOrigin
    frame_index: int | None  # position inside the record; None when the whole record is bad

    def to_json(self) -> dict[str, object]:
        try:
            text: str | None = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "reason": self.reason.value,
            "detail": self.detail,
            "shard_id": self.origin.shard_id,
            "sequence_number": self.origin.sequence_number,
            "frame_index": self.frame_index,
            "arrival_us": self.origin.arrival_us,
            "event_source_arn": self.origin.event_source_arn,
            "raw_text": text,
            "raw_base64": base64.b64encode(self.raw).decode("ascii"),
        }


@dataclass
class NormalizedBatch:
    """TradeV2 rows of a batch and what did not become one."""

    trades: pa.Table
    row_records: np.ndarray  # per trade row: index of the Kinesis record it came from
    origins: list[RecordOrigin]
    dead_letters: list[DeadLetter]
    non_trades: Counter[str]
    duplicates: int  # trades seen twice in this batch (same message_id), landed once
    frames: int

    @property
    def batch_id(self) -> str:
        """Deterministic name of this batch: a re-delivery of the same records gets the same id."""
        return batch_id(self.origins)


def batch_id(origins: list[RecordOrigin]) -> str:
    if not origins:
        return "empty"
    first, last = origins[0], origins[-1]
    name = f"{first.shard_id}-{first.sequence_number}-{last.sequence_number}"
    if any(origin.shard_id != first.shard_id for origin in origins):
        coordinates = "|".join(f"{o.shard_id}:{o.sequence_number}" for o in origins)
        name += "-" + hashlib.sha256(coordinates.encode()).hexdigest()[:16]
    return name


@dataclass
class SplitRecords:
    """A batch's frames; per frame, its record's index, its position in that record and its
    partition key (a KPL record's own key for the frame, else the Kinesis record's)."""

    frames: list[bytes]
    records: list[int] | np.ndarray
    positions: list[int] | np.ndarray
    keys: list[str]
    dead_letters: list[DeadLetter]  # records that could not be split at all

    @property
    def markets(self) -> list[str]:
        """Per frame, the market it was received on (from its partition key)."""
        return [market_of(key) for key in self.keys]


def split_records(origins: Sequence[RecordOrigin], payloads: list[bytes]) -> SplitRecords:
    """The batch's frames, and for each the record it came from and its place in it.

    The usual batch (one plain frame per record) is recognised with a few whole-batch byte
    scans; otherwise each record is split on its own, and a record that cannot be split is
    dead-lettered whole.
    """
    if _all_single_plain_frames(payloads):
        one_each = np.arange(len(payloads), dtype=np.int64)
        keys = [origin.partition_key for origin in origins]
        return SplitRecords(payloads, one_each, np.zeros(len(payloads), np.int64), keys, [])
    entries: list[tuple[str, bytes]] = []
    records: list[int] = []
    positions: list[int] = []
    dead_letters: list[DeadLetter] = []
    for record_index, (origin, payload) in enumerate(zip(origins, payloads, strict=True)):
        if _is_single_plain_frame(payload):
            keyed: list[tuple[str, bytes]] = [(origin.partition_key, payload)]
        else:
            keyed, rejected = _split(payload, origin.partition_key)
            if rejected:
                dead_letters.append(DeadLetter(*rejected, payload, origin, None))
                continue
        entries.extend(keyed)
        records.extend([record_index] * len(keyed))
        positions.extend(range(len(keyed)))
    frames = [frame for _, frame in entries]
    return SplitRecords(frames, records, positions, [key for key, _ in entries], dead_letters)


def first_occurrences(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Row positions of the first occurrence of each distinct key, in original order."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    codes = np.asarray(pc.dictionary_encode(keys).combine_chunks().indices)
    _, first = np.unique(codes, return_index=True)
    return np.sort(first)


def _all_single_plain_frames(payloads: list[bytes]) -> bool:
    """Whether _is_single_plain_frame holds for every payload, from whole-batch scans.

    Stricter than needed (the KPL magic anywhere, not just at the start, says no): a "no"
    only sends the batch down the per-record path.
    """
    if not payloads:
        return True
    joined = b"\n".join(payloads)
    return (
        joined.count(b"\n") == len(payloads) - 1
        and kpl.KPL_MAGIC not in joined
        and min(map(len, payloads)) > 0
        and max(map(len, payloads)) <= MAX_RECORD_BYTES
        and not any(map(bytes.isspace, payloads))
    )


def _is_single_plain_frame(payload: bytes) -> bool:
    return (
        0 < len(payload) <= MAX_RECORD_BYTES
        and b"\n" not in payload
        and not payload.isspace()
        and not kpl.is_aggregated(payload)
    )


def _split(
    payload: bytes, record_key: str
) -> tuple[list[tuple[str, bytes]], tuple[RejectReason, str] | None]:
    if len(payload) > MAX_RECORD_BYTES:
        detail = f"oversize record: {len(payload)} bytes > {MAX_RECORD_BYTES}"
        return [], (RejectReason.OVERSIZE_RECORD, detail)
    try:
        frames = kpl.split_payload_keyed(payload, record_key)
    except kpl.AggregationError as error:
        return [], (RejectReason.CORRUPT_AGGREGATE, f"corrupt KPL aggregated record: {error}")
    if not frames:
        return [], (RejectReason.EMPTY_RECORD, "empty record: no frames")
    return frames, None

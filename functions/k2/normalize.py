"""Kinesis records -> TradeV2 rows, dead letters and non-trade counts. Pure: no AWS calls.

`KinesisBatch` collects the records of one Lambda invocation (one shard), then `normalize()`
parses all their frames in one columnar pass. Every frame is accounted for exactly once:
landed as a trade, counted as a non-trade, or dead-lettered with its reason and coordinates.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2 import kpl
from k2.binance.frames import parse_frames
from k2.tradev2 import build_tradev2

MAX_RECORD_BYTES = 1024 * 1024  # Kinesis' record limit; a larger payload cannot be genuine


@dataclass(frozen=True)
class RecordOrigin:
    """Where a Kinesis record came from; shared by all frames it carries."""

    shard_id: str
    sequence_number: str
    arrival_us: int
    event_source_arn: str = ""


@dataclass(frozen=True)
class DeadLetter:
    reason: str
    raw: bytes
    origin: RecordOrigin
    frame_index: int | None  # position inside the record; None when the whole record is bad

    def to_json(self) -> dict[str, object]:
        try:
            text: str | None = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        return {
            "reason": self.reason,
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
class KinesisBatch:
    """Accumulates the frames of one invocation's Kinesis records."""

    origins: list[RecordOrigin] = field(default_factory=list)
    _frames: list[bytes] = field(default_factory=list)
    _frame_records: list[int] = field(default_factory=list)
    _frame_positions: list[int] = field(default_factory=list)
    _record_dead_letters: list[DeadLetter] = field(default_factory=list)

    def add_record(self, origin: RecordOrigin, payload: bytes) -> None:
        """Split one record into frames; a record that cannot be split is dead-lettered whole."""
        record_index = len(self.origins)
        self.origins.append(origin)
        if _is_single_plain_frame(payload):  # the common case, without the general splitting
            self._frames.append(payload)
            self._frame_records.append(record_index)
            self._frame_positions.append(0)
            return
        frames, reason = _split(payload)
        if reason:
            self._record_dead_letters.append(DeadLetter(reason, payload, origin, None))
            return
        self._frames.extend(frames)
        self._frame_records.extend([record_index] * len(frames))
        self._frame_positions.extend(range(len(frames)))

    def normalize(self) -> NormalizedBatch:
        parsed = parse_frames(self._frames)
        frame_records = np.asarray(self._frame_records, dtype=np.int64)
        dead_letters = list(self._record_dead_letters)
        for rejection in parsed.rejections:
            index = rejection.frame_index
            origin = self.origins[frame_records[index]]
            position = self._frame_positions[index]
            dead_letters.append(DeadLetter(rejection.reason, self._frames[index], origin, position))
        frame_index = np.asarray(parsed.trades["frame_index"], dtype=np.int64)
        row_records = frame_records[frame_index]
        arrival = np.array([o.arrival_us for o in self.origins], dtype=np.int64)
        trades = build_tradev2(parsed.trades, arrival[row_records])
        unique = first_occurrences(trades["message_id"])
        return NormalizedBatch(
            trades=trades.take(pa.array(unique)),
            row_records=row_records[unique],
            origins=list(self.origins),
            dead_letters=dead_letters,
            non_trades=Counter(non_trade.kind for non_trade in parsed.non_trades),
            duplicates=trades.num_rows - len(unique),
            frames=len(self._frames) + len(self._record_dead_letters),
        )


def first_occurrences(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Row positions of the first occurrence of each distinct key, in original order."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    codes = np.asarray(pc.dictionary_encode(keys).combine_chunks().indices)
    _, first = np.unique(codes, return_index=True)
    return np.sort(first)


def _is_single_plain_frame(payload: bytes) -> bool:
    return (
        0 < len(payload) <= MAX_RECORD_BYTES
        and b"\n" not in payload
        and not payload.isspace()
        and not kpl.is_aggregated(payload)
    )


def _split(payload: bytes) -> tuple[list[bytes], str | None]:
    if len(payload) > MAX_RECORD_BYTES:
        return [], f"oversize record: {len(payload)} bytes > {MAX_RECORD_BYTES}"
    try:
        frames = kpl.split_payload(payload)
    except kpl.AggregationError as error:
        return [], f"corrupt KPL aggregated record: {error}"
    if not frames:
        return [], "empty record: no frames"
    return frames, None

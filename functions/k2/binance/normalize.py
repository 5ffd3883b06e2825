"""Kinesis records of Binance frames -> TradeV2 rows, dead letters and non-trade counts. Pure.

`KinesisBatch` collects the records of one Lambda invocation (one shard), then `normalize()`
parses all their frames in one columnar pass (k2.binance.frames; each frame under the market
its partition key names) and builds TradeV2 (k2.binance.tradev2). Every frame is accounted
for exactly once: landed as a trade, counted as a non-trade or a duplicate, or dead-lettered
with its reason and coordinates. Two checks need the batch, not the frame alone:
- a trade time more than an hour after the record reached Kinesis is no real trade;
- the same trade twice with different content lands once (the first), and every differing
  version is dead-lettered with the landed one named beside it, never silently dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.binance.frames import ParsedFrames, parse_frames
from k2.binance.tradev2 import build_tradev2
from k2.domain.records import (
    DeadLetter,
    NormalizedBatch,
    RecordOrigin,
    SplitRecords,
    first_occurrences,
    split_records,
)
from k2.domain.rejects import RejectReason

MAX_TRADE_AFTER_ARRIVAL_US = 3_600_000_000  # clocks disagree by seconds, not by an hour
# What makes two reports of one trade id the same trade.
TRADE_CONTENT = ("timestamp", "price", "quantity", "side")


@dataclass
class KinesisBatch:
    """Accumulates the frames of one invocation's Kinesis records."""

    origins: list[RecordOrigin] = field(default_factory=list)
    _payloads: list[bytes] = field(default_factory=list)

    def add_record(self, origin: RecordOrigin, payload: bytes) -> None:
        self.origins.append(origin)
        self._payloads.append(payload)

    def normalize(self) -> NormalizedBatch:
        split = split_records(self.origins, self._payloads)
        parsed = parse_frames(split.frames, split.markets)
        frame_records = np.asarray(split.records, dtype=np.int64)
        letters = _Letters(self.origins, split, frame_records)
        for rejection in parsed.rejections:
            letters.add(rejection.reason, rejection.detail, rejection.frame_index)
        arrival = np.fromiter((o.arrival_us for o in self.origins), np.int64, len(self.origins))
        trades = _drop_future_trades(parsed, frame_records, arrival, letters)
        frame_index = np.asarray(trades["frame_index"], dtype=np.int64)
        row_records = frame_records[frame_index]
        rows = build_tradev2(trades, arrival[row_records])
        unique = first_occurrences(rows["message_id"])
        conflicts = _conflicting_duplicates(rows, unique)
        for row, first in conflicts:
            landed = split.frames[frame_index[first]].decode("utf-8", "replace")[:300]
            detail = f"same trade id as a landed version with other content: {landed}"
            letters.add(RejectReason.CONFLICTING_DUPLICATE, detail, int(frame_index[row]))
        return NormalizedBatch(
            trades=rows.take(pa.array(unique)),
            row_records=row_records[unique],
            origins=list(self.origins),
            dead_letters=letters.letters,
            non_trades=Counter(non_trade.kind for non_trade in parsed.non_trades),
            duplicates=rows.num_rows - len(unique) - len(conflicts),
            frames=len(split.frames) + len(split.dead_letters),
        )


class _Letters:
    """The batch's dead letters, each with its record's coordinates."""

    def __init__(
        self, origins: list[RecordOrigin], split: SplitRecords, frame_records: np.ndarray
    ) -> None:
        self._origins, self._split, self._frame_records = origins, split, frame_records
        self.letters: list[DeadLetter] = list(split.dead_letters)

    def add(self, reason: RejectReason, detail: str, frame: int) -> None:
        origin = self._origins[self._frame_records[frame]]
        position = int(self._split.positions[frame])
        self.letters.append(DeadLetter(reason, detail, self._split.frames[frame], origin, position))


def _drop_future_trades(
    parsed: ParsedFrames, frame_records: np.ndarray, arrival: np.ndarray, letters: _Letters
) -> pa.Table:
    """The trades, less those timed more than an hour after their record reached Kinesis
    (dead-lettered as implausible: the parser alone cannot know when a frame arrived)."""
    trades = parsed.trades
    frame_index = np.asarray(trades["frame_index"], dtype=np.int64)
    latest = arrival[frame_records[frame_index]] + MAX_TRADE_AFTER_ARRIVAL_US
    future = np.asarray(trades["trade_time_us"], dtype=np.int64) > latest
    if not future.any():
        return trades
    for frame in frame_index[future]:
        letters.add(RejectReason.IMPLAUSIBLE_TIME, "trade time over an hour after arrival", frame)
    return trades.filter(pa.array(~future))


def _conflicting_duplicates(rows: pa.Table, unique: np.ndarray) -> list[tuple[int, int]]:
    """(row, first row of its trade) for every later row whose content differs from the first
    one's; identical repeats are plain duplicates."""
    if len(unique) == rows.num_rows:
        return []
    codes = np.asarray(pc.dictionary_encode(rows["message_id"]).combine_chunks().indices)
    first_of_code = np.empty(codes.max() + 1, dtype=np.int64)
    first_of_code[codes[unique]] = unique
    repeats = np.setdiff1d(np.arange(rows.num_rows), unique)
    firsts = first_of_code[codes[repeats]]
    differs = np.zeros(len(repeats), dtype=bool)
    for column in TRADE_CONTENT:
        values = rows[column].combine_chunks()
        later, first = values.take(pa.array(repeats)), values.take(pa.array(firsts))
        differs |= np.asarray(pc.fill_null(pc.not_equal(later, first), True))
    return [
        (int(row), int(first)) for row, first in zip(repeats[differs], firsts[differs], strict=True)
    ]

"""Kinesis records of Binance frames -> TradeV2 rows, dead letters and non-trade counts. Pure.

`KinesisBatch` collects the records of one Lambda invocation (one shard), then `normalize()`
parses all their frames in one columnar pass (k2.binance.frames) and builds TradeV2
(k2.binance.tradev2). Every frame is accounted for exactly once: landed as a trade, counted as
a non-trade, or dead-lettered with its reason and coordinates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from k2.binance.frames import parse_frames
from k2.binance.tradev2 import build_tradev2
from k2.domain.records import (
    DeadLetter,
    NormalizedBatch,
    RecordOrigin,
    first_occurrences,
    split_records,
)


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
        parsed = parse_frames(split.frames)
        frame_records = np.asarray(split.records, dtype=np.int64)
        dead_letters = list(split.dead_letters)
        for rejection in parsed.rejections:
            index = rejection.frame_index
            origin = self.origins[frame_records[index]]
            position = int(split.positions[index])
            dead_letters.append(
                DeadLetter(
                    rejection.reason, rejection.detail, split.frames[index], origin, position
                )
            )
        frame_index = np.asarray(parsed.trades["frame_index"], dtype=np.int64)
        row_records = frame_records[frame_index]
        arrival = np.fromiter((o.arrival_us for o in self.origins), np.int64, len(self.origins))
        trades = build_tradev2(parsed.trades, arrival[row_records])
        unique = first_occurrences(trades["message_id"])
        return NormalizedBatch(
            trades=trades.take(pa.array(unique)),
            row_records=row_records[unique],
            origins=list(self.origins),
            dead_letters=dead_letters,
            non_trades=Counter(non_trade.kind for non_trade in parsed.non_trades),
            duplicates=trades.num_rows - len(unique),
            frames=len(split.frames) + len(split.dead_letters),
        )

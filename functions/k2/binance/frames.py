"""Binance websocket frames -> columns of trades, plus the frames that are not trades or are bad.

Every input frame ends up in exactly one of three places: a trade row, a non-trade (a frame
Binance legitimately sends that carries no trade: bookTicker, depth, snapshots, control
messages) or a rejection with a reject code and a one-line detail. Nothing raises on bad input.
Each frame's market (spot, usdm, coinm) is the subscription it arrived on, given by the caller.

Speed: spot `trade` frames, nearly all of the traffic, are read for the whole batch at once by
k2.binance.spot_trades, with no Python object per frame. Any frame it does not accept (futures,
aggTrade, odd spacing, bad values, non trades) takes the strict per-frame parser
(k2.binance.strict), which is the specification; the fast path only ever accepts frames on
which both agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.binance.spot_trades import DECIMAL_TYPE, read_spot_trades
from k2.binance.strict import FrameError, classify
from k2.domain.rejects import RejectReason

TRADE_COLUMNS = pa.schema(
    [
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("market", pa.string(), nullable=False),  # spot | usdm | coinm
        pa.field("kind", pa.string(), nullable=False),  # trade | aggTrade
        pa.field("stream", pa.string()),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("event_time", pa.int64(), nullable=False),
        pa.field("source_id", pa.int64(), nullable=False),
        pa.field("price", DECIMAL_TYPE, nullable=False),
        pa.field("quantity", DECIMAL_TYPE, nullable=False),
        pa.field("trade_time_us", pa.int64(), nullable=False),
        pa.field("is_buyer_maker", pa.bool_(), nullable=False),
        pa.field("is_best_match", pa.bool_()),
        pa.field("first_trade_id", pa.int64()),
        pa.field("last_trade_id", pa.int64()),
        pa.field("execution_type", pa.string()),
        pa.field("unmapped", pa.string()),  # JSON object of payload fields not mapped above
    ]
)


@dataclass(frozen=True)
class Rejection:
    frame_index: int
    reason: RejectReason
    detail: str  # one line, for people


@dataclass(frozen=True)
class NonTrade:
    frame_index: int
    kind: str


@dataclass
class ParsedFrames:
    trades: pa.Table
    rejections: list[Rejection] = field(default_factory=list)
    non_trades: list[NonTrade] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return self.trades.num_rows + len(self.rejections) + len(self.non_trades)


def parse_frames(frames: Sequence[bytes], markets: Sequence[str] | None = None) -> ParsedFrames:
    """Classify and parse a batch of raw frames; see the module docstring for the guarantees.
    `markets`: per frame, the market it was received on (default: all spot)."""
    raw = pa.array(frames, pa.binary())
    spot = np.ones(len(frames), bool) if markets is None else np.asarray(markets) == "spot"
    fast_rows, fast_taken = _fast_spot_trades(raw, spot)
    slow = _SlowPath()
    for index in map(int, np.flatnonzero(~fast_taken)):
        slow.parse(index, frames[index], "spot" if markets is None else markets[index])
    trades = pa.concat_tables([fast_rows, slow.table()])
    if not _ascending(trades["frame_index"]):
        trades = trades.sort_by("frame_index")
    return ParsedFrames(trades, slow.rejections, slow.non_trades)


def _ascending(values: pa.ChunkedArray) -> bool:
    positions = np.asarray(values)
    return bool(np.all(positions[1:] > positions[:-1]))


# --- fast path: spot trade frames exactly as Binance writes them ---------------------------


def _fast_spot_trades(raw: pa.Array, spot: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """Rows for the spot-market frames k2.binance.spot_trades accepts, and a mask of those
    frames (a frame of another market is never read as a spot trade, whatever its shape)."""
    taken = np.zeros(len(raw), dtype=bool)
    tables = []
    for read in read_spot_trades(raw, spot):
        taken[read.frame_index] = True
        rows = len(read.frame_index)
        tables.append(
            pa.table(
                {
                    "frame_index": read.frame_index,
                    "market": pa.repeat("spot", rows),
                    "kind": pa.repeat("trade", rows),
                    "stream": read.stream,
                    "symbol": read.symbol,
                    "event_time": read.event_time,
                    "source_id": read.source_id,
                    "price": read.price,
                    "quantity": read.quantity,
                    "trade_time_us": read.trade_time_us,
                    "is_buyer_maker": read.is_buyer_maker,
                    "is_best_match": read.is_best_match,
                    "first_trade_id": pa.nulls(rows, pa.int64()),
                    "last_trade_id": pa.nulls(rows, pa.int64()),
                    "execution_type": pa.nulls(rows, pa.string()),
                    "unmapped": pa.nulls(rows, pa.string()),
                },
                schema=TRADE_COLUMNS,
            )
        )
    return pa.concat_tables([TRADE_COLUMNS.empty_table(), *tables]), taken


# --- slow path: every other frame, one at a time ---------------------------------------------


class _SlowPath:
    """Strict parser of one frame at a time; collects rows column-wise for one Arrow build."""

    def __init__(self) -> None:
        self.rejections: list[Rejection] = []
        self.non_trades: list[NonTrade] = []
        self._rows: list[dict[str, Any]] = []

    def parse(self, index: int, frame: bytes, market: str = "spot") -> None:
        try:
            outcome = classify(frame, market)
        except FrameError as error:
            self.rejections.append(Rejection(index, error.reason, str(error)))
            return
        if isinstance(outcome, str):
            self.non_trades.append(NonTrade(index, outcome))
        else:
            outcome["frame_index"] = index
            self._rows.append(outcome)

    def table(self) -> pa.Table:
        if not self._rows:
            return TRADE_COLUMNS.empty_table()
        columns: dict[str, Any] = {
            name: [row.get(name) for row in self._rows] for name in TRADE_COLUMNS.names
        }
        for decimal_column in ("price", "quantity"):
            columns[decimal_column] = pc.cast(
                pa.array(columns[decimal_column], pa.string()), DECIMAL_TYPE
            )
        return pa.table(columns, schema=TRADE_COLUMNS)

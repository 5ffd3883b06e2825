"""Binance websocket frames -> columns of trades, plus the frames that are not trades or are bad.

Every input frame ends up in exactly one of three places: a trade row, a non-trade (a frame
Binance legitimately sends that carries no trade: bookTicker, depth, snapshots, control
messages) or a rejection with a one-line reason. Nothing raises on bad input.

Speed: spot `trade` frames, nearly all of the traffic, are read for the whole batch at once by
k2.binance.spot_trades, with no Python object per frame. Any frame it does not accept (futures,
aggTrade, odd spacing, bad values, non trades) takes the strict per-frame path here, which is
the specification; the fast path only ever accepts frames on which both paths agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from k2.binance.spot_trades import (
    DECIMAL_TYPE,
    MICROS_THRESHOLD,
    PRICE_INTEGER_DIGITS,
    PRICE_SCALE,
    read_spot_trades,
)
from k2.domain.rejects import RejectReason

MAX_FRAME_BYTES = 1024 * 1024  # a Kinesis record's own limit; no real Binance frame is near it
MAX_SOURCE_ID = 2**62 - 1  # message ids keep 62 bits of the exchange id (see k2.binance.tradev2)
_DECIMAL_TEXT = re.compile(rf"[0-9]{{1,{PRICE_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{PRICE_SCALE}}})?")
_SYMBOL = re.compile(r"[A-Z0-9_]{2,32}")

# Market-data events Binance sends that carry no trade.
NON_TRADE_EVENTS: frozenset[str] = frozenset(
    {
        "depthUpdate", "bookTicker", "24hrTicker", "24hrMiniTicker", "kline", "continuous_kline",
        "markPriceUpdate", "forceOrder", "avgPrice", "1hTicker", "4hTicker", "1dTicker",
        "indexPriceUpdate", "contractInfo", "assetIndexUpdate", "compositeIndex",
        "serverShutdown",
    }
)  # fmt: skip

TRADE_COLUMNS = pa.schema(
    [
        pa.field("frame_index", pa.int64(), nullable=False),
        pa.field("market", pa.string(), nullable=False),  # spot | futures
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


def parse_frames(frames: Sequence[bytes]) -> ParsedFrames:
    """Classify and parse a batch of raw frames; see the module docstring for the guarantees."""
    raw = pa.array(frames, pa.binary())
    fast_rows, fast_taken = _fast_spot_trades(raw)
    slow = _SlowPath()
    for index in map(int, np.flatnonzero(~fast_taken)):
        slow.parse(index, frames[index])
    trades = pa.concat_tables([fast_rows, slow.table()])
    if not _ascending(trades["frame_index"]):
        trades = trades.sort_by("frame_index")
    return ParsedFrames(trades, slow.rejections, slow.non_trades)


def _ascending(values: pa.ChunkedArray) -> bool:
    positions = np.asarray(values)
    return bool(np.all(positions[1:] > positions[:-1]))


# --- fast path: spot trade frames exactly as Binance writes them ---------------------------


def _fast_spot_trades(raw: pa.Array) -> tuple[pa.Table, np.ndarray]:
    """Rows for the frames k2.binance.spot_trades accepts, and a mask of those frames."""
    taken = np.zeros(len(raw), dtype=bool)
    tables = []
    for read in read_spot_trades(raw):
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


class FrameError(ValueError):
    """A frame that can never become a trade: its reject code and a one-line detail."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_TRADE_FIELDS = {"e", "E", "s", "t", "p", "q", "T", "m", "M", "X"}
_AGG_TRADE_FIELDS = {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}


class _SlowPath:
    """Strict parser of one frame at a time; collects rows column-wise for one Arrow build."""

    def __init__(self) -> None:
        self.rejections: list[Rejection] = []
        self.non_trades: list[NonTrade] = []
        self._rows: list[dict[str, Any]] = []

    def parse(self, index: int, frame: bytes) -> None:
        try:
            outcome = _classify(frame)
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


def _classify(frame: bytes) -> dict[str, Any] | str:
    """A trade row (dict) or the kind of non-trade frame (str); FrameError when malformed."""
    if len(frame) > MAX_FRAME_BYTES:
        raise FrameError(
            RejectReason.OVERSIZE_FRAME, f"oversize frame: {len(frame)} bytes > {MAX_FRAME_BYTES}"
        )
    try:
        frame.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FrameError(RejectReason.NOT_UTF8, f"not valid UTF-8 at byte {error.start}") from None
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as error:
        raise FrameError(RejectReason.INVALID_JSON, f"invalid JSON: {error}") from None
    if not isinstance(message, dict):
        raise FrameError(RejectReason.NOT_AN_OBJECT, f"not a JSON object: {type(message).__name__}")
    stream, payload = _unwrap(message)
    return _classify_payload(stream, payload)


def _unwrap(message: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Split a combined-stream envelope {"stream", "data"}; raw frames have no stream."""
    if "stream" not in message and "data" not in message:
        return None, message
    stream, payload = message.get("stream"), message.get("data")
    if not isinstance(stream, str) or not isinstance(payload, dict):
        raise FrameError(
            RejectReason.BAD_ENVELOPE,
            "malformed combined-stream envelope: needs string stream and object data",
        )
    return stream, payload


def _classify_payload(stream: str | None, payload: dict[str, Any]) -> dict[str, Any] | str:
    event = payload.get("e")
    if event is not None and not isinstance(event, str):
        raise FrameError(
            RejectReason.WRONG_TYPE, f"event type e must be a string, got {type(event).__name__}"
        )
    if event == "trade":
        return _trade_row(stream, payload)
    if event == "aggTrade":
        return _agg_trade_row(stream, payload)
    if event in NON_TRADE_EVENTS:
        return str(event)
    if event is not None:
        raise FrameError(RejectReason.UNKNOWN_EVENT, f"unknown event type {str(event)[:40]!r}")
    return _control_or_snapshot(payload)


def _control_or_snapshot(payload: dict[str, Any]) -> str:
    """Frames without an event type: spot bookTicker, REST snapshots, request acks and errors."""
    keys = payload.keys()
    if {"u", "s", "b", "B", "a", "A"} <= keys:
        return "bookTicker"
    if {"lastUpdateId", "bids", "asks"} <= keys:
        return "depthSnapshot"
    if "id" in keys and "result" in keys:
        return "subscriptionAck"
    if "error" in keys or {"code", "msg"} <= keys:
        return "errorResponse"
    raise FrameError(
        RejectReason.UNRECOGNISED_FRAME,
        f"unrecognised frame without event type, keys {sorted(keys)[:8]}",
    )


def _trade_row(stream: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    # USD-M futures trades carry the execution type X and no M; spot trades the reverse.
    market = "futures" if "X" in payload else "spot"
    row = _common_fields(stream, payload, "trade", market)
    row["source_id"] = _source_id(payload, "t")
    if market == "spot":
        row["is_best_match"] = _required(payload, "M", bool)
    else:
        row["execution_type"] = _required(payload, "X", str)
    row["unmapped"] = _unmapped(payload, _TRADE_FIELDS)
    return row


def _agg_trade_row(stream: str | None, payload: dict[str, Any]) -> dict[str, Any]:
    market = "spot" if "M" in payload else "futures"
    row = _common_fields(stream, payload, "aggTrade", market)
    row["source_id"] = _source_id(payload, "a")
    row["first_trade_id"] = _source_id(payload, "f")
    row["last_trade_id"] = _source_id(payload, "l")
    if row["last_trade_id"] < row["first_trade_id"]:
        raise FrameError(
            RejectReason.INCONSISTENT_AGGREGATE,
            "aggTrade last trade id l is below first trade id f",
        )
    if market == "spot":
        row["is_best_match"] = _required(payload, "M", bool)
    row["unmapped"] = _unmapped(payload, _AGG_TRADE_FIELDS)
    return row


def _common_fields(
    stream: str | None, payload: dict[str, Any], kind: str, market: str
) -> dict[str, Any]:
    symbol = _required(payload, "s", str)
    if not _SYMBOL.fullmatch(symbol):
        raise FrameError(RejectReason.BAD_SYMBOL, f"bad symbol {symbol[:40]!r}")
    if stream is not None and stream.split("@", 1)[0] != symbol.lower():
        raise FrameError(
            RejectReason.STREAM_MISMATCH, f"stream {stream[:60]!r} does not match symbol {symbol!r}"
        )
    return {
        "market": market,
        "kind": kind,
        "stream": stream,
        "symbol": symbol,
        "event_time": _epoch(payload, "E"),
        "price": _positive_decimal(payload, "p", "price"),
        "quantity": _positive_decimal(payload, "q", "quantity"),
        "trade_time_us": _to_micros_scalar(_epoch(payload, "T")),
        "is_buyer_maker": _required(payload, "m", bool),
    }


def _required(payload: dict[str, Any], key: str, kind: type) -> Any:
    if key not in payload:
        raise FrameError(RejectReason.MISSING_FIELD, f"missing field {key!r}")
    value = payload[key]
    # bool is an int in Python; JSON true is never a valid integer field and vice versa
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FrameError(
            RejectReason.WRONG_TYPE,
            f"field {key!r} must be {kind.__name__}, got {type(value).__name__}",
        )
    return value


def _source_id(payload: dict[str, Any], key: str) -> int:
    value: int = _required(payload, key, int)
    if not 0 <= value <= MAX_SOURCE_ID:
        raise FrameError(RejectReason.OUT_OF_RANGE, f"field {key!r} out of range: {value}")
    return value


def _epoch(payload: dict[str, Any], key: str) -> int:
    value: int = _required(payload, key, int)
    if not 0 < value < 10**16:
        raise FrameError(RejectReason.BAD_TIME, f"field {key!r} is not an epoch time: {value}")
    return value


def _to_micros_scalar(epoch: int) -> int:
    return epoch * 1000 if epoch < MICROS_THRESHOLD else epoch


def _positive_decimal(payload: dict[str, Any], key: str, name: str) -> str:
    text: str = _required(payload, key, str)
    if not _DECIMAL_TEXT.fullmatch(text):
        raise FrameError(
            RejectReason.BAD_DECIMAL,
            f"{name} {text[:40]!r} is not a non-negative decimal that fits "
            f"decimal({DECIMAL_TYPE.precision},{DECIMAL_TYPE.scale})",
        )
    if Decimal(text) <= 0:
        raise FrameError(RejectReason.NOT_POSITIVE, f"{name} must be positive, got {text!r}")
    return text


def _unmapped(payload: dict[str, Any], mapped: set[str]) -> str | None:
    extra = {key: value for key, value in payload.items() if key not in mapped}
    return orjson.dumps(extra).decode() if extra else None

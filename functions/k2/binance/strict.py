"""The strict parser of one Binance frame: the specification every faster path is held to.

A frame is a trade (a dict of TradeV2-bound fields), a non-trade Binance legitimately sends
(bookTicker, depth, snapshots, control messages: its kind), or it raises FrameError with a
reject code and a one-line detail. Standard library and orjson only: the connector runs it on
every frame to decide which trade ids it has seen, so a malformed frame can never claim the id
of a genuine trade.

The market (spot, usdm, coinm) comes from the subscription the frame arrived on, never from the
fields it carries: a spot trade with an extra `X` stays a spot trade (X kept as unmapped).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from k2.domain.rejects import RejectReason
from k2.domain.schema.avro import decimal_spec

_PRICE = decimal_spec("price")
PRICE_SCALE = _PRICE.scale
PRICE_INTEGER_DIGITS = _PRICE.precision - _PRICE.scale
MICROS_THRESHOLD = 10**14  # epoch values above this are microseconds, below milliseconds
MAX_FRAME_BYTES = 1024 * 1024  # a Kinesis record's own limit; no real Binance frame is near it
MAX_SOURCE_ID = 2**62 - 1  # message ids keep 62 bits of the exchange id (see k2.binance.tradev2)
_DECIMAL_TEXT = re.compile(rf"[0-9]{{1,{PRICE_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{PRICE_SCALE}}})?")
_NONZERO = re.compile(r"[1-9]")
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

# A trade time outside these bounds is no Binance trade: before Binance opened (2017-07-14),
# more than a minute after the event that reports it, or reported more than a day later
# (REST backfill reports a trade at its own time). In microseconds.
EARLIEST_TRADE_US = 1_499_990_400_000_000
MAX_TRADE_AFTER_EVENT_US = 60_000_000
MAX_EVENT_AFTER_TRADE_US = 86_400_000_000


def plausible_times(event_time_us: int, trade_time_us: int) -> bool:
    """Whether a trade time fits the bounds above (k2.binance.spot_trades applies the same,
    column-wise)."""
    return (
        trade_time_us >= EARLIEST_TRADE_US
        and trade_time_us - event_time_us <= MAX_TRADE_AFTER_EVENT_US
        and event_time_us - trade_time_us <= MAX_EVENT_AFTER_TRADE_US
    )


def to_micros(epoch: int) -> int:
    return epoch * 1000 if epoch < MICROS_THRESHOLD else epoch


# A spot trade exactly as Binance writes it (combined-stream envelope or raw), every field in
# the form `classify` accepts: a lane for the connector, which decides for every frame whether
# it is a valid trade and cannot afford the field-by-field checks on each one. Numbers without
# leading zeros and at most 16 digits (epoch times below 10**16; ids checked below), decimals
# as _DECIMAL_TEXT with a non-zero digit somewhere (the lookahead stays inside the value), no
# escapes anywhere. A frame it does not match goes to `classify`.
_INTEGER = rb"(0|[1-9][0-9]{0,18})"
_TIME = rb"([1-9][0-9]{0,15})"
_POSITIVE_DECIMAL = rb'"(?=[0-9.]*[1-9])[0-9]{1,%d}(?:\.[0-9]{1,%d})?"' % (
    PRICE_INTEGER_DIGITS,
    PRICE_SCALE,
)
_SPOT_TRADE_PAYLOAD = (
    rb'\{"e":"trade","E":' + _TIME + rb',"s":"([A-Z0-9_]{2,32})","t":' + _INTEGER
    + rb',"p":' + _POSITIVE_DECIMAL + rb',"q":' + _POSITIVE_DECIMAL + rb',"T":' + _TIME
    + rb',"m":(?:true|false),"M":(?:true|false)\}'
)  # fmt: skip
_EXACT_SPOT_TRADE = re.compile(
    rb'\{"stream":"([a-z0-9_]{2,32})@trade","data":' + _SPOT_TRADE_PAYLOAD + rb"\}"
)
_EXACT_RAW_SPOT_TRADE = re.compile(rb"()" + _SPOT_TRADE_PAYLOAD)  # the same groups, no stream


def exact_spot_trade(frame: bytes) -> tuple[str, int] | None:
    """(symbol, trade id) of a valid spot trade frame in Binance's exact form, which `classify`
    would read as a trade with the same symbol and id; None for any other frame (which
    `classify` must then decide). About five times faster than `classify`."""
    match = _EXACT_SPOT_TRADE.fullmatch(frame) or _EXACT_RAW_SPOT_TRADE.fullmatch(frame)
    if match is None:
        return None
    stream, event_time, symbol, trade_id, trade_time = match.groups()
    if stream and stream != symbol.lower():
        return None
    source_id = int(trade_id)
    if source_id > MAX_SOURCE_ID:
        return None
    if not plausible_times(to_micros(int(event_time)), to_micros(int(trade_time))):
        return None
    return symbol.decode(), source_id


class FrameError(ValueError):
    """A frame that can never become a trade: its reject code and a one-line detail."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_COMMON_FIELDS = frozenset({"e", "E", "s", "p", "q", "T", "m"})
# Fields mapped to TradeV2 columns, per (market is spot, kind); any other field is kept, as
# JSON, in `unmapped`. Spot has the best-match flag M; futures the execution type X.
_MAPPED = {
    (True, "trade"): _COMMON_FIELDS | {"t", "M"},
    (False, "trade"): _COMMON_FIELDS | {"t", "X"},
    (True, "aggTrade"): _COMMON_FIELDS | {"a", "f", "l", "M"},
    (False, "aggTrade"): _COMMON_FIELDS | {"a", "f", "l", "X"},
}


def classify(frame: bytes, market: str = "spot") -> dict[str, Any] | str:
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
    return _classify_payload(stream, payload, market)


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


def _classify_payload(
    stream: str | None, payload: dict[str, Any], market: str
) -> dict[str, Any] | str:
    event = payload.get("e")
    if event is not None and not isinstance(event, str):
        raise FrameError(
            RejectReason.WRONG_TYPE, f"event type e must be a string, got {type(event).__name__}"
        )
    if event == "trade":
        return _trade_row(stream, payload, market)
    if event == "aggTrade":
        return _agg_trade_row(stream, payload, market)
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


def _trade_row(stream: str | None, payload: dict[str, Any], market: str) -> dict[str, Any]:
    row = _common_fields(stream, payload, "trade", market)
    row["source_id"] = _source_id(payload, "t")
    _market_fields(row, payload, market)
    row["unmapped"] = _unmapped(payload, _MAPPED[market == "spot", "trade"])
    return row


def _market_fields(row: dict[str, Any], payload: dict[str, Any], market: str) -> None:
    """Spot trades carry the best-match flag M; futures trades may carry the execution type X
    (MARKET, INSURANCE_FUND, ADL, NA, or a value Binance adds later, kept as sent)."""
    if market == "spot":
        row["is_best_match"] = _required(payload, "M", bool)
    elif "X" in payload:
        row["execution_type"] = _required(payload, "X", str)


def _agg_trade_row(stream: str | None, payload: dict[str, Any], market: str) -> dict[str, Any]:
    row = _common_fields(stream, payload, "aggTrade", market)
    row["source_id"] = _source_id(payload, "a")
    row["first_trade_id"] = _source_id(payload, "f")
    row["last_trade_id"] = _source_id(payload, "l")
    if row["last_trade_id"] < row["first_trade_id"]:
        raise FrameError(
            RejectReason.INCONSISTENT_AGGREGATE,
            "aggTrade last trade id l is below first trade id f",
        )
    _market_fields(row, payload, market)
    row["unmapped"] = _unmapped(payload, _MAPPED[market == "spot", "aggTrade"])
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
    event_time, trade_time = _epoch(payload, "E"), _epoch(payload, "T")
    if not plausible_times(to_micros(event_time), to_micros(trade_time)):
        raise FrameError(
            RejectReason.IMPLAUSIBLE_TIME,
            f"trade time T={trade_time} is not plausible for event time E={event_time}",
        )
    return {
        "market": market,
        "kind": kind,
        "stream": stream,
        "symbol": symbol,
        "event_time": event_time,
        "price": _positive_decimal(payload, "p", "price"),
        "quantity": _positive_decimal(payload, "q", "quantity"),
        "trade_time_us": to_micros(trade_time),
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


def _positive_decimal(payload: dict[str, Any], key: str, name: str) -> str:
    text: str = _required(payload, key, str)
    if not _DECIMAL_TEXT.fullmatch(text):
        raise FrameError(
            RejectReason.BAD_DECIMAL,
            f"{name} {text[:40]!r} is not a non-negative decimal that fits "
            f"decimal({_PRICE.precision},{_PRICE.scale})",
        )
    if not _NONZERO.search(text):
        raise FrameError(RejectReason.NOT_POSITIVE, f"{name} must be positive, got {text!r}")
    return text


def _unmapped(payload: dict[str, Any], mapped: frozenset[str]) -> str | None:
    extra = {key: value for key, value in payload.items() if key not in mapped}
    return orjson.dumps(extra).decode() if extra else None

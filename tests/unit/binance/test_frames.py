"""Binance frames: every frame becomes a trade, a non-trade, or a rejection with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from k2.binance import frames as binance
from k2.binance.frames import parse_frames
from k2.binance.strict import MAX_FRAME_BYTES
from k2.domain.rejects import RejectReason as R
from tests.support.frames import frame, payload

pytestmark = pytest.mark.unit

SPOT = payload("spot_trade")


def spot(**fields: object) -> bytes:
    """The spot trade sample with `fields` replaced (None removes one)."""
    return payload("spot_trade", **fields)


COMBINED_SPOT = frame("spot_trade")
FUTURES = payload("usdm_trade")
AGG_TRADE = payload("spot_agg_trade")


def parse_one(raw: bytes, market: str = "spot") -> binance.ParsedFrames:
    parsed = parse_frames([raw], [market])
    assert parsed.frame_count == 1
    return parsed


def test_spot_trade_raw_and_combined_parse_identically():
    raw, combined = parse_one(SPOT).trades.to_pylist(), parse_one(COMBINED_SPOT).trades.to_pylist()
    assert raw[0]["stream"] is None
    assert combined[0]["stream"] == "btcusdt@trade"
    for row in (raw[0], combined[0]):
        assert row["symbol"] == "BTCUSDT"
        assert row["source_id"] == 3735683259
        assert row["price"] == Decimal("61837.63000000")
        assert row["quantity"] == Decimal("0.02000000")
        assert row["trade_time_us"] == 1723161255342000
        assert row["is_buyer_maker"] is True
        assert row["is_best_match"] is True
        assert row["market"] == "spot"


def test_fast_path_and_strict_path_agree_on_spot_trades():
    fast = parse_frames([COMBINED_SPOT]).trades
    spaced = COMBINED_SPOT.replace(b'"e":"trade",', b'"e": "trade", ')  # misses the fast pattern
    strict = parse_frames([spaced]).trades
    assert fast.drop_columns(["frame_index"]) == strict.drop_columns(["frame_index"])


def test_usdm_futures_trade_has_execution_type_and_no_best_match():
    (row,) = parse_one(FUTURES, "usdm").trades.to_pylist()
    assert row["market"] == "usdm"
    assert row["execution_type"] == "MARKET"
    assert row["is_best_match"] is None
    assert row["price"] == Decimal("61830.10")


def test_the_market_is_the_subscription_never_the_fields():
    """A spot trade with an extra X stays a spot trade (X kept as unmapped); a futures-shaped
    trade on a spot subscription lacks spot's M and is rejected, never relabelled."""
    (row,) = parse_one(spot(X="MARKET")).trades.to_pylist()
    assert (row["market"], row["execution_type"]) == ("spot", None)
    assert row["unmapped"] == '{"X":"MARKET"}'
    (rejection,) = parse_one(FUTURES, "spot").rejections
    assert (rejection.reason, rejection.detail) == (R.MISSING_FIELD, "missing field 'M'")


@pytest.mark.parametrize(
    ("event_time", "trade_time"),
    [
        (1723161255343, 99999999999999),  # year 5138
        (1723161255343, 1),  # 1970
        (1, 1),  # before Binance opened
        (1723161255343 + 50 * 365 * 86_400_000, 1723161255343),  # event 50 years later
        (1723161255343, 1723161255343 + 61_000),  # trade a minute after its event
    ],
)
def test_trade_times_no_binance_trade_can_have_are_rejected_by_both_parsers(event_time, trade_time):
    for raw in (spot(E=event_time, T=trade_time), frame("spot_trade", E=event_time, T=trade_time)):
        parsed = parse_one(raw)  # the fast path must not take it either
        (rejection,) = parsed.rejections
        assert rejection.reason is R.IMPLAUSIBLE_TIME


def test_agg_trade_keeps_first_and_last_trade_ids():
    (row,) = parse_one(AGG_TRADE).trades.to_pylist()
    assert (row["kind"], row["source_id"]) == ("aggTrade", 912345678)
    assert (row["first_trade_id"], row["last_trade_id"]) == (1520538925, 1520538927)


def test_microsecond_trade_times_are_recognised():
    micro = SPOT.replace(b'"T":1723161255342', b'"T":1723161255342123')
    (row,) = parse_one(micro).trades.to_pylist()
    assert row["trade_time_us"] == 1723161255342123


def test_unmapped_payload_fields_are_kept():
    extra = SPOT.replace(b'"M":true}', b'"M":true,"b":88,"a":99}')
    (row,) = parse_one(extra).trades.to_pylist()
    assert row["unmapped"] == '{"b":88,"a":99}'


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (payload("spot_book_ticker"), "bookTicker"),
        (frame("spot_depth_update"), "depthUpdate"),
        (b'{"lastUpdateId":50093239218,"bids":[["1.0","2.0"]],"asks":[]}', "depthSnapshot"),
        (payload("server_shutdown"), "serverShutdown"),
        (frame("server_shutdown"), "serverShutdown"),
        (b'{"result":null,"id":1}', "subscriptionAck"),
        (b'{"error":{"code":2,"msg":"Invalid request"},"id":3}', "errorResponse"),
        (b'{"e":"kline","E":1,"s":"BTCUSDT","k":{}}', "kline"),
    ],
)
def test_non_trade_frames_are_recognised_and_never_become_trades(raw, kind):
    parsed = parse_one(raw)
    assert parsed.trades.num_rows == 0
    assert [n.kind for n in parsed.non_trades] == [kind]


@pytest.mark.parametrize(
    ("raw", "code", "detail"),
    [
        (b'{"e":"trade",', R.INVALID_JSON, "invalid JSON"),
        (b"\xff\xfe\x00garbage", R.NOT_UTF8, "not valid UTF-8"),
        (b"[1,2,3]", R.NOT_AN_OBJECT, "not a JSON object"),
        (b'{"stream":"btcusdt@trade","data":[1]}', R.BAD_ENVELOPE, "malformed combined-stream"),
        (spot(p=None), R.MISSING_FIELD, "missing field 'p'"),
        (spot(p=61837.63), R.WRONG_TYPE, "field 'p' must be str"),
        (spot(t="3735683259"), R.WRONG_TYPE, "field 't' must be int"),
        (spot(m=1), R.WRONG_TYPE, "field 'm' must be bool"),
        (spot(t=True), R.WRONG_TYPE, "field 't' must be int"),
        (spot(p="-1.00000000"), R.BAD_DECIMAL, "price '-1.00000000'"),
        (spot(p="abc"), R.BAD_DECIMAL, "price 'abc'"),
        (spot(p="0.00000000"), R.NOT_POSITIVE, "price must be positive"),
        (spot(q="0"), R.NOT_POSITIVE, "quantity must be positive"),
        (spot(p="12345678901.0"), R.BAD_DECIMAL, "fits decimal(18,8)"),
        (spot(p="1.000000001"), R.BAD_DECIMAL, "fits decimal(18,8)"),
        (spot(t=-5), R.OUT_OF_RANGE, "out of range"),
        (spot(T=0), R.BAD_TIME, "not an epoch time"),
        (spot(s="btc usdt"), R.BAD_SYMBOL, "bad symbol"),
        (b'{"stream":"ethusdt@trade","data":' + SPOT + b"}", R.STREAM_MISMATCH, "does not match"),
        (spot(e="tradez"), R.UNKNOWN_EVENT, "unknown event type 'tradez'"),
        (spot(e=["trade"]), R.WRONG_TYPE, "event type e must be a string"),
        (b'{"hello":"world"}', R.UNRECOGNISED_FRAME, "unrecognised frame without event type"),
        (payload("spot_agg_trade", l=1), R.INCONSISTENT_AGGREGATE, "below first trade id"),
        (b" " * (MAX_FRAME_BYTES + 1), R.OVERSIZE_FRAME, "oversize frame"),
    ],
)
def test_malformed_frames_are_rejected_with_a_code_and_a_one_line_detail(raw, code, detail):
    parsed = parse_one(raw)
    assert parsed.trades.num_rows == 0
    (rejection,) = parsed.rejections
    assert rejection.reason is code
    assert detail in rejection.detail
    assert "\n" not in rejection.detail


def test_good_trades_in_a_batch_with_bad_frames_still_parse_in_order():
    batch = [COMBINED_SPOT, b"not json", FUTURES, b'{"result":null,"id":1}', AGG_TRADE]
    parsed = parse_frames(batch, ["spot", "spot", "usdm", "spot", "spot"])
    assert parsed.trades["frame_index"].to_pylist() == [0, 2, 4]
    assert [r.frame_index for r in parsed.rejections] == [1]
    assert [n.frame_index for n in parsed.non_trades] == [3]


def test_the_recorded_session_splits_into_exactly_its_trades(recordings):
    from k2.binance.recording import read_recording

    frames = [recorded.frame for path in recordings for recorded in read_recording(path)]
    parsed = parse_frames(frames)
    assert parsed.rejections == []
    assert parsed.trades.num_rows == 9_757 + 6_106
    kinds = {n.kind for n in parsed.non_trades}
    assert kinds == {"bookTicker", "depthUpdate", "depthSnapshot"}
    assert parsed.frame_count == len(frames)

"""Binance frames: every frame becomes a trade, a non-trade, or a rejection with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest

from k2.binance import frames as binance
from k2.binance.frames import parse_frames

pytestmark = pytest.mark.unit

SPOT = (
    b'{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,"p":"61837.63000000",'
    b'"q":"0.02000000","T":1723161255342,"m":true,"M":true}'
)
COMBINED_SPOT = b'{"stream":"btcusdt@trade","data":' + SPOT + b"}"
FUTURES = (
    b'{"e":"trade","E":1723161255343,"T":1723161255342,"s":"BTCUSDT","t":5123456789,'
    b'"p":"61830.10","q":"0.005","X":"MARKET","m":false}'
)
AGG_TRADE = (
    b'{"e":"aggTrade","E":1723161255343,"s":"ETHUSDT","a":912345678,"p":"2650.12000000",'
    b'"q":"1.50000000","f":1520538925,"l":1520538927,"T":1723161255342,"m":false,"M":true}'
)


def parse_one(frame: bytes) -> binance.ParsedFrames:
    parsed = parse_frames([frame])
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
    (row,) = parse_one(FUTURES).trades.to_pylist()
    assert row["market"] == "futures"
    assert row["execution_type"] == "MARKET"
    assert row["is_best_match"] is None
    assert row["price"] == Decimal("61830.10")


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
    ("frame", "kind"),
    [
        (b'{"u":400900217,"s":"BNBUSDT","b":"25.35","B":"31.2","a":"25.36","A":"40.66"}',
         "bookTicker"),
        (b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT",'
         b'"U":1,"u":2,"b":[],"a":[]}}', "depthUpdate"),
        (b'{"lastUpdateId":50093239218,"bids":[["1.0","2.0"]],"asks":[]}', "depthSnapshot"),
        (b'{"e":"serverShutdown","E":1723161255343}', "serverShutdown"),
        (b'{"stream":"btcusdt@trade","data":{"e":"serverShutdown","E":1723161255343}}',
         "serverShutdown"),
        (b'{"result":null,"id":1}', "subscriptionAck"),
        (b'{"error":{"code":2,"msg":"Invalid request"},"id":3}', "errorResponse"),
        (b'{"e":"kline","E":1,"s":"BTCUSDT","k":{}}', "kline"),
    ],
)  # fmt: skip
def test_non_trade_frames_are_recognised_and_never_become_trades(frame, kind):
    parsed = parse_one(frame)
    assert parsed.trades.num_rows == 0
    assert [n.kind for n in parsed.non_trades] == [kind]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b'{"e":"trade",', "invalid JSON"),
        (b"\xff\xfe\x00garbage", "not valid UTF-8"),
        (b"[1,2,3]", "not a JSON object"),
        (b'{"stream":"btcusdt@trade","data":[1]}', "malformed combined-stream envelope"),
        (SPOT.replace(b'"p":"61837.63000000",', b""), "missing field 'p'"),
        (SPOT.replace(b'"p":"61837.63000000"', b'"p":61837.63'), "field 'p' must be str"),
        (SPOT.replace(b'"t":3735683259', b'"t":"3735683259"'), "field 't' must be int"),
        (SPOT.replace(b'"m":true', b'"m":1'), "field 'm' must be bool"),
        (SPOT.replace(b'"t":3735683259', b'"t":true'), "field 't' must be int"),
        (SPOT.replace(b'"p":"61837.63000000"', b'"p":"-1.00000000"'), "price '-1.00000000'"),
        (SPOT.replace(b'"p":"61837.63000000"', b'"p":"abc"'), "price 'abc'"),
        (SPOT.replace(b'"p":"61837.63000000"', b'"p":"0.00000000"'), "price must be positive"),
        (SPOT.replace(b'"q":"0.02000000"', b'"q":"0"'), "quantity must be positive"),
        (SPOT.replace(b'"p":"61837.63000000"', b'"p":"12345678901.0"'), "fits decimal(18,8)"),
        (SPOT.replace(b'"p":"61837.63000000"', b'"p":"1.000000001"'), "fits decimal(18,8)"),
        (SPOT.replace(b'"t":3735683259', b'"t":-5'), "out of range"),
        (SPOT.replace(b'"T":1723161255342', b'"T":0'), "not an epoch time"),
        (SPOT.replace(b'"s":"BTCUSDT"', b'"s":"btc usdt"'), "bad symbol"),
        (b'{"stream":"ethusdt@trade","data":' + SPOT + b"}", "does not match symbol"),
        (SPOT.replace(b'"e":"trade"', b'"e":"tradez"'), "unknown event type 'tradez'"),
        (SPOT.replace(b'"e":"trade"', b'"e":["trade"]'), "event type e must be a string"),
        (b'{"hello":"world"}', "unrecognised frame without event type"),
        (AGG_TRADE.replace(b'"l":1520538927', b'"l":1'), "below first trade id"),
        (b" " * (binance.MAX_FRAME_BYTES + 1), "oversize frame"),
    ],
)
def test_malformed_frames_are_rejected_with_a_one_line_reason(frame, reason):
    parsed = parse_one(frame)
    assert parsed.trades.num_rows == 0
    (rejection,) = parsed.rejections
    assert reason in rejection.reason
    assert "\n" not in rejection.reason


def test_good_trades_in_a_batch_with_bad_frames_still_parse_in_order():
    batch = [COMBINED_SPOT, b"not json", FUTURES, b'{"result":null,"id":1}', AGG_TRADE]
    parsed = parse_frames(batch)
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

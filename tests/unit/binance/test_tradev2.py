"""TradeV2 rows from parsed Binance trades."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from k2.binance.frames import parse_frames
from k2.binance.tradev2 import build_tradev2, message_ids
from k2.domain import schema
from tests.support.frames import payload

pytestmark = pytest.mark.unit


def trade(symbol="BTCUSDT", trade_id=3735683259, maker=True):
    return payload("spot_trade", s=symbol, t=trade_id, m=maker)


def build(*frames: bytes, markets: list[str] | None = None) -> list[dict]:
    parsed = parse_frames(list(frames), markets)
    arrival = np.full(parsed.trades.num_rows, 1_723_161_300_000_000)
    table = build_tradev2(parsed.trades, arrival)
    assert table.schema == schema.arrow_schema()
    return table.to_pylist()


def test_buyer_is_maker_means_the_aggressor_sold():
    sold, bought = build(trade(maker=True), trade(trade_id=2, maker=False))
    assert sold["side"] == "SELL"
    assert bought["side"] == "BUY"


def test_identity_fields():
    (row,) = build(trade())
    assert row["trade_id"] == "BINANCE-3735683259"
    assert row["exchange"] == "BINANCE"
    assert row["asset_class"] == "crypto"
    assert row["currency"] == "USDT"
    assert row["source_sequence"] == 3735683259
    assert row["price"] == Decimal("61837.63000000")
    assert row["ingestion_timestamp"].timestamp() == 1_723_161_300
    assert dict(row["vendor_data"]) == {
        "event_time": "1723161255343",
        "is_buyer_maker": "true",
        "is_best_match": "true",
        "base_asset": "BTC",
        "quote_asset": "USDT",
    }


def test_message_id_is_a_deterministic_uuid8_unique_per_exchange_symbol_and_id():
    rows = build(trade(), trade(symbol="ETHUSDT"), trade(trade_id=3735683260), trade())
    ids = [row["message_id"] for row in rows]
    assert ids[0] == ids[3]  # the same trade delivered twice
    assert len(set(ids[:3])) == 3
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int & (2**62 - 1) == 3735683259  # the exchange id is readable in the low bits
    again = build(trade())[0]["message_id"]
    assert again == ids[0]


def test_message_ids_differ_between_spot_and_futures_for_the_same_number():
    exchange = pa.array(["BINANCE", "BINANCE_FUTURES"])
    symbol = pa.array(["BTCUSDT", "BTCUSDT"])
    kind = pa.array(["trade", "trade"])
    first, second = message_ids(exchange, symbol, kind, pa.array([7, 7])).to_pylist()
    assert first != second


def test_message_id_text_is_the_canonical_uuid_of_hash_prefix_and_exchange_id():
    exchange = pa.array(["BINANCE", "BINANCE", "BINANCE_FUTURES", "BINANCE"])
    symbol = pa.array(["BTCUSDT", "ETHUSDT", "BTCUSDT", "BTCUSDT"])
    kind = pa.array(["trade", "trade", "trade", "aggTrade"])
    source_id = [0, 2**62 - 1, 7, 123456789]
    ids = message_ids(exchange, symbol, kind, pa.array(source_id)).to_pylist()
    for row, text in enumerate(ids):
        key = f"{exchange[row]}|{symbol[row]}|{kind[row]}".encode()
        digest = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
        high = (digest & ~(0xF << 12)) | (0x8 << 12)
        low = source_id[row] | 1 << 63
        assert text == str(uuid.UUID(int=high << 64 | low))


def test_futures_and_aggregate_trades():
    futures = payload("usdm_trade", t=5)
    aggregate = payload("spot_agg_trade", a=9, p="2650.12", q="1.5", f=100, l=102, m=True)
    futures_row, aggregate_row = build(futures, aggregate, markets=["usdm", "spot"])
    assert (futures_row["exchange"], futures_row["asset_class"]) == ("BINANCE_FUTURES", "futures")
    assert futures_row["trade_id"] == "BINANCE_FUTURES-5"
    assert dict(futures_row["vendor_data"])["execution_type"] == "MARKET"
    assert aggregate_row["trade_id"] == "BINANCE-AGG-9"
    assert aggregate_row["trade_conditions"] == ["AGGREGATED"]
    vendor = dict(aggregate_row["vendor_data"])
    assert (vendor["first_trade_id"], vendor["last_trade_id"]) == ("100", "102")


def test_unknown_quote_asset_lands_with_currency_unknown():
    (row,) = build(trade(symbol="FOOBARXYZ"))
    assert row["currency"] == "UNKNOWN"
    assert "quote_asset" not in dict(row["vendor_data"])


def test_empty_input_builds_an_empty_table():
    parsed = parse_frames([])
    table = build_tradev2(parsed.trades, np.zeros(0, dtype=np.int64))
    assert table.num_rows == 0
    assert table.schema == schema.arrow_schema()


@pytest.mark.parametrize(
    "execution_type", ["MARKET", "INSURANCE_FUND", "ADL", "NA", "A_TYPE_BINANCE_ADDS_LATER"]
)
def test_every_futures_execution_type_is_kept_as_sent_never_dropped(execution_type):
    (row,) = build(payload("usdm_trade", t=5, X=execution_type), markets=["usdm"])
    assert row["trade_id"] == "BINANCE_FUTURES-5"
    assert dict(row["vendor_data"])["execution_type"] == execution_type

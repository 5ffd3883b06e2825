"""Query requests are validated before any SQL exists; every value becomes a parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from k2.domain.query.planner import plan
from k2.domain.query.spec import (
    Cursor,
    OhlcvQuery,
    QueryError,
    TradesQuery,
    parse_request,
)

pytestmark = pytest.mark.unit
NOW = datetime(2024, 8, 9, tzinfo=UTC)


def test_trades_defaults_to_the_last_day_and_binds_every_value():
    spec = parse_request("trades", {"symbol": "btcusdt"}, now=NOW)
    assert isinstance(spec, TradesQuery)
    assert spec == TradesQuery("BTCUSDT", spec.time, limit=1_000)
    assert spec.time.start == datetime(2024, 8, 8, tzinfo=UTC)
    assert spec.time.end == NOW
    assert spec.markets == ("spot",)
    query = plan(spec)
    assert query.params == ("BINANCE", "BTCUSDT", spec.time.start, spec.time.end)
    assert "BTCUSDT" not in query.sql
    assert "2024" not in query.sql


@pytest.mark.parametrize(
    ("market", "expected"),
    [
        ("usdm", ("usdm",)),
        ("COINM", ("coinm",)),
        ("usdm,spot", ("spot", "usdm")),
        ("all", ("spot", "usdm", "coinm")),
    ],
)
def test_every_kind_but_sql_reads_the_markets_asked_for(market, expected):
    for kind, params in [
        ("trades", {"symbol": "BTCUSDT"}),
        ("ohlcv", {"symbols": "BTCUSDT"}),
        ("latest", {}),
        ("symbols", {}),
        ("freshness", {}),
    ]:
        spec = parse_request(kind, params | {"market": market}, now=NOW)
        assert spec.markets == expected, kind  # type: ignore[union-attr]
        exchanges = {"spot": "BINANCE", "usdm": "BINANCE_FUTURES", "coinm": "BINANCE_COINM"}
        query = plan(spec)
        assert query.params[: len(expected)] == tuple(exchanges[m] for m in expected), kind
        assert query.scope.exchanges == tuple(exchanges[m] for m in expected), kind


def test_coin_m_symbols_with_an_underscore_are_valid():
    spec = parse_request("trades", {"symbol": "btcusd_perp", "market": "coinm"}, now=NOW)
    assert isinstance(spec, TradesQuery)
    assert spec.symbol == "BTCUSD_PERP"
    delivery = parse_request("ohlcv", {"symbols": "BTCUSD_251226", "market": "coinm"}, now=NOW)
    assert delivery.symbols == ("BTCUSD_251226",)  # type: ignore[union-attr]


def test_futures_bars_count_market_trades_unless_all_trades_are_asked_for():
    futures = {"symbols": "BTCUSDT", "market": "usdm"}
    default = plan(parse_request("ohlcv", futures, now=NOW))
    assert "execution_type" in default.sql
    assert "vendor_data" in default.scope.columns
    every = plan(parse_request("ohlcv", futures | {"trades": "all"}, now=NOW))
    assert "execution_type" not in every.sql
    spot = plan(parse_request("ohlcv", {"symbols": "BTCUSDT"}, now=NOW))
    assert "vendor_data" not in spot.scope.columns  # spot has no execution types to filter


def test_epoch_milliseconds_and_iso_times_are_accepted():
    spec = parse_request(
        "ohlcv", {"symbols": "BTCUSDT,ethusdt", "interval": "5m",
                  "start": "1723161600000", "end": "2024-08-09T01:00:00Z"}, now=NOW,
    )  # fmt: skip
    assert isinstance(spec, OhlcvQuery)
    assert spec == OhlcvQuery(("BTCUSDT", "ETHUSDT"), "5m", spec.time)
    assert spec.time.start == datetime(2024, 8, 9, tzinfo=UTC)


def test_a_cursor_round_trips_and_continues_after_its_trade():
    cursor = Cursor(1_723_161_255_342_000, "BINANCE_FUTURES", 3_735_683_259)
    spec = parse_request("trades", {"symbol": "BTCUSDT", "cursor": cursor.encode()}, now=NOW)
    assert isinstance(spec, TradesQuery)
    assert spec.cursor == cursor
    assert plan(spec).params[-1] == 3_735_683_259


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("trades", {}, "missing parameter: symbol"),
        ("trades", {"symbol": "BTC'USDT"}, "symbol must be"),
        ("trades", {"symbol": "B"}, "symbol must be"),
        ("trades", {"symbol": "BTC\uff35SDT"}, "symbol must be"),  # fullwidth U
        ("trades", {"symbol": "BTCUSDT", "limit": "0"}, "limit must be"),
        ("trades", {"symbol": "BTCUSDT", "limit": "10001"}, "limit must be"),
        ("trades", {"symbol": "BTCUSDT", "limit": "1e3"}, "limit must be"),
        ("trades", {"symbol": "BTCUSDT", "limit": "٣"}, "limit must be"),
        ("trades", {"symbol": "BTCUSDT", "start": "2024-01-01"}, "longer than 31 days"),
        ("trades", {"symbol": "BTCUSDT", "start": "2024-08-09", "end": "2024-08-08"}, "before"),
        ("trades", {"symbol": "BTCUSDT", "start": "yesterday"}, "ISO 8601"),
        ("trades", {"symbol": "BTCUSDT", "cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ("trades", {"symbol": "BTCUSDT", "cursor": "WzEsMl0"}, "cursor"),  # [1,2]: no exchange
        ("trades", {"symbol": "BTCUSDT", "cursor": "WzEsIk5ZU0UiLDJd"}, "cursor"),  # NYSE
        ("trades", {"symbol": "BTCUSDT", "market": "options"}, "market must be"),
        ("trades", {"symbol": "BTCUSDT", "market": "spot,eu"}, "'eu'"),
        ("trades", {"symbol": "_BTC"}, "symbol must be"),
        ("ohlcv", {"symbols": "BTCUSDT", "trades": "liquidations"}, "trades must be"),
        ("sql", {"sql": "SELECT 1", "market": "usdm"}, "unknown parameter"),
        ("trades", {"symbol": "BTCUSDT", "where": "1=1"}, "unknown parameter"),
        ("ohlcv", {"symbols": "BTCUSDT", "interval": "7m"}, "interval must be"),
        (
            "ohlcv",
            {"symbols": "BTCUSDT", "interval": "1s", "start": "2024-01-01"},
            "bars requested",
        ),
        ("ohlcv", {"symbols": ",".join(f"S{i:03d}" for i in range(51))}, "at most 50"),
        ("latest", {"limit": "1001"}, "limit must be"),
        ("sql", {"sql": " "}, "missing parameter: sql"),
        ("drop", {}, "unknown query"),
    ],
)
def test_invalid_requests_are_rejected_with_a_reason(kind, params, message):
    with pytest.raises(QueryError, match=message):
        parse_request(kind, params, now=NOW)

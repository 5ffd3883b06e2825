"""Every query kind over a lake holding BTCUSDT spot, the BTCUSDT USD-M perpetual (same trade
ids, its own prices) and COIN-M's BTCUSD_PERP: each market answers for itself unless asked for
more, committed and staged rows alike, and futures bars count market trades by default."""

from __future__ import annotations

import json

import pytest

from k2.adapters.iceberg.committer import TradesCommitter
from k2.binance.generator import generate_frames
from k2_devtools.local.environment import scoped_environment
from query import handler as query_function
from tests.support.events import normalize_frames
from tests.support.query import bars_from_frames, comparable, get

pytestmark = pytest.mark.integration
SESSION = {"start": "2024-08-08T23:00:00Z", "end": "2024-08-09T01:00:00Z"}
TRADES = 2_400
EXCHANGES = {"spot": "BINANCE", "usdm": "BINANCE_FUTURES", "coinm": "BINANCE_COINM"}


def _payloads(frames: list[bytes]) -> list[dict]:
    return [data for f in frames if (data := json.loads(f)["data"]).get("e") == "trade"]


@pytest.fixture(scope="module")
def market_frames() -> dict[str, list[bytes]]:
    """Per market, its session: spot and USD-M BTCUSDT share every trade id."""

    def frames(symbol: str, seed: int, market: str) -> list[bytes]:
        return [f.frame for f in generate_frames([symbol], TRADES, seed=seed, market=market)]

    return {
        "spot": frames("BTCUSDT", 7, "spot"),
        "usdm": frames("BTCUSDT", 11, "usdm"),
        "coinm": frames("BTCUSD_PERP", 13, "coinm"),
    }


@pytest.fixture
def market_lake(server_lake, market_frames):
    """The first half of each market's frames committed to Iceberg, the rest still staged."""
    halves = [{m: f[: len(f) // 2] for m, f in market_frames.items()},
              {m: f[len(f) // 2 :] for m, f in market_frames.items()}]  # fmt: skip
    for number, half in enumerate(halves):
        for index, (market, frames) in enumerate(half.items()):
            sequences = 10**20 + (number * len(half) + index) * 10**6  # one range per call
            normalize_frames(frames, market, sequences)
        if number == 0:
            TradesCommitter(server_lake).run()
    query_function.close_engines()
    with scoped_environment({"QUERY_ENGINE": "local"}):
        yield server_lake


def _ok(path: str, **params: str) -> dict:
    status, body = get(path, **params)
    assert status == 200, body
    return body


def test_symbols_and_freshness_list_each_instrument_of_the_markets_asked_for(
    market_lake, market_frames
):
    spot_only = _ok("/symbols")["rows"]
    assert [(r["market"], r["symbol"], r["trades"]) for r in spot_only] == [
        ("spot", "BTCUSDT", TRADES)
    ]
    every = _ok("/symbols", market="all")["rows"]
    assert [(r["market"], r["symbol"], r["trades"]) for r in every] == [  # by symbol, market
        ("spot", "BTCUSDT", TRADES),
        ("usdm", "BTCUSDT", TRADES),
        ("coinm", "BTCUSD_PERP", TRADES),
    ]
    fresh = _ok("/freshness", market="usdm,coinm")["rows"]
    assert [(r["market"], r["symbol"]) for r in fresh] == [
        ("usdm", "BTCUSDT"),
        ("coinm", "BTCUSD_PERP"),
    ]


def test_trade_pages_of_one_market_hold_its_ids_and_of_all_markets_every_trade_once(
    market_lake, market_frames
):
    def walk(market: str) -> list[tuple[str, int]]:
        seen, cursor = [], None
        while True:
            extra: dict[str, str] = {"cursor": cursor} if cursor else {}
            body = _ok("/trades", symbol="BTCUSDT", market=market, limit="700", **SESSION, **extra)
            seen += [(row["exchange"], row["source_sequence"]) for row in body["rows"]]
            if not (cursor := body["next_cursor"]):
                return seen

    spot_ids = [t["t"] for t in _payloads(market_frames["spot"])]
    usdm_ids = [t["t"] for t in _payloads(market_frames["usdm"])]
    assert spot_ids == usdm_ids  # the collision: one id, two trades
    assert walk("spot") == [("BINANCE", i) for i in spot_ids]
    assert walk("usdm") == [("BINANCE_FUTURES", i) for i in usdm_ids]
    both = walk("all")  # ordered by time, then market, then id, across pages of 700
    expected = {("BINANCE", i) for i in spot_ids} | {("BINANCE_FUTURES", i) for i in usdm_ids}
    assert len(both) == len(expected) == 2 * TRADES
    assert set(both) == expected


def test_futures_bars_count_market_trades_by_default_and_every_trade_on_request(
    market_lake, market_frames
):
    usdm = _payloads(market_frames["usdm"])
    kinds = {t["X"] for t in usdm}
    assert {"MARKET", "INSURANCE_FUND", "ADL", "NA"} <= kinds
    market_only = [t for t in usdm if t["X"] == "MARKET"]
    default = _ok("/ohlcv", symbols="BTCUSDT", market="usdm", **SESSION)["rows"]
    assert {row["market"] for row in default} == {"usdm"}
    assert [comparable(r) for r in default] == bars_from_frames(market_only, "BTCUSDT")
    every = _ok("/ohlcv", symbols="BTCUSDT", market="usdm", trades="all", **SESSION)["rows"]
    assert [comparable(r) for r in every] == bars_from_frames(usdm, "BTCUSDT")
    spot = _ok("/ohlcv", symbols="BTCUSDT", **SESSION)["rows"]
    assert [comparable(r) for r in spot] == bars_from_frames(
        _payloads(market_frames["spot"]), "BTCUSDT"
    )
    side_by_side = _ok("/ohlcv", symbols="BTCUSDT", market="all", trades="all", **SESSION)["rows"]
    assert sum(row["trades"] for row in side_by_side) == 2 * TRADES
    assert {row["market"] for row in side_by_side} == {"spot", "usdm"}


def test_latest_gives_each_instrument_its_own_newest_trades(market_lake, market_frames):
    rows = _ok("/latest", market="all", limit="2")["rows"]
    newest = {
        market: [t["t"] for t in _payloads(frames)][-1:-3:-1]
        for market, frames in market_frames.items()
    }
    assert [(r["symbol"], r["exchange"], r["source_sequence"]) for r in rows] == [
        ("BTCUSDT", EXCHANGES["spot"], newest["spot"][0]),
        ("BTCUSDT", EXCHANGES["spot"], newest["spot"][1]),
        ("BTCUSDT", EXCHANGES["usdm"], newest["usdm"][0]),
        ("BTCUSDT", EXCHANGES["usdm"], newest["usdm"][1]),
        ("BTCUSD_PERP", EXCHANGES["coinm"], newest["coinm"][0]),
        ("BTCUSD_PERP", EXCHANGES["coinm"], newest["coinm"][1]),
    ]

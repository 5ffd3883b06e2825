"""The connector on USD-M and COIN-M futures: each market's websocket routes, REST paths and
page limits, every execution type forwarded, and no market ever filling another's gap."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

import pytest

from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame
from k2.binance.strict import classify
from k2_connector.markets import MARKET_APIS
from k2_devtools.replay_server import Faults
from tests.support.connector_harness import delivered_ids, expected_ids, run_connector

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
SYMBOLS = {"usdm": ["BTCUSDT", "ETHUSDT"], "coinm": ["BTCUSD_PERP", "ETHUSD_250926"]}


def futures_frames(market: str, trades: int = 1_200):
    return list(generate_frames(SYMBOLS[market], trades, seed=8, market=market))


def play(market, frames, tmp_path, faults=None, **overrides):
    sink: list[bytes] = []
    outcome = asyncio.run(
        run_connector(frames, sink.extend, tmp_path, faults, speed=20.0, market=market, **overrides)
    )
    return outcome, sink


@pytest.mark.parametrize("market", ["usdm", "coinm"])
def test_every_futures_trade_and_execution_type_arrives_once(market, tmp_path):
    frames = futures_frames(market)
    outcome, sink = play(market, frames, tmp_path)
    assert outcome.drained
    got = delivered_ids(sink, market)
    assert sum(map(len, got.values())) == 2 * 1_200
    for symbol, ids in expected_ids(frames, market).items():
        assert sorted(got[symbol]) == sorted(ids), symbol
    paths = {urlsplit(supervisor.url).path for supervisor in outcome.connector.supervisors}
    assert paths == {"/public/stream" if market == "usdm" else "/stream"}  # USD-M: trade route
    execution_types = {classify(frame, market)["execution_type"] for frame in sink}  # type: ignore[index]
    assert execution_types == {"MARKET", "INSURANCE_FUND", "ADL", "NA"}


def execution_types(frames) -> dict[tuple[str, int], str]:
    """(symbol, trade id) -> the trade's `X`, from the frames the exchange sent."""
    types = {}
    for recorded in frames:
        data = json.loads(recorded.frame)["data"]
        if data.get("e") == "trade":
            types[data["s"], data["t"]] = data["X"]
    return types


def assert_only_unservable_trades_missing(frames, sink, market, outcome, tmp_path) -> int:
    """Every trade arrived but those futures REST never serves (insurance-fund, ADL, ...)
    that the websocket withheld; each of those is counted and in an `unfillable` gap record
    that says why. Returns how many there were."""
    got = delivered_ids(sink, market)
    types = execution_types(frames)
    missing = {
        (symbol, trade_id)
        for symbol, ids in expected_ids(frames, market).items()
        for trade_id in set(ids) - set(got[symbol])
    }
    assert all(types[key] != "MARKET" for key in missing), "a market trade was lost"
    assert outcome.connector.stats.unserved == len(missing)
    records = [json.loads(line) for line in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    unfillable = [r for r in records if r["status"] == "unfillable"]
    assert sum(r["unserved"] for r in unfillable) == len(missing)
    assert all("MARKET" in r["reason"] and r["market"] == market for r in unfillable)
    assert {r["status"] for r in records} <= {"open", "filled", "unfillable"}
    return len(missing)


@pytest.mark.parametrize("market", ["usdm", "coinm"])
def test_a_futures_gap_is_backfilled_from_its_own_api_in_pages_of_its_own_limit(market, tmp_path):
    frames = futures_frames(market, 2_000)
    # one withheld run longer than a futures page (500 rows): REST needs two pages for it
    outcome, sink = play(market, frames, tmp_path, Faults(gap_every=1_400, gap_size=700))
    assert outcome.drained
    unservable = assert_only_unservable_trades_missing(frames, sink, market, outcome, tmp_path)
    assert unservable > 0  # ~3% of 700 generated futures trades are not MARKET
    assert outcome.connector.stats.backfilled >= outcome.server.gap_trades_withheld - unservable
    assert outcome.server.rest_requests >= 2  # 700 ids at <= 500 rows a page
    assert outcome.connector.stats.backfill_failures == 0  # proved unservable, never retried
    assert outcome.connector.rest_budget.limit == MARKET_APIS[market].weight_per_minute // 2


@pytest.mark.parametrize("market", ["usdm", "coinm"])
def test_429_and_418_hold_every_futures_request_for_retry_after(market, tmp_path):
    frames = futures_frames(market, 1_500)
    faults = Faults(gap_every=500, gap_size=3, rest_refuse_first=1, rest_refuse_status=418,
                    rest_retry_after_s=1)  # fmt: skip
    outcome, sink = play(market, frames, tmp_path, faults)
    assert outcome.drained
    times = outcome.server.rest_request_times
    assert outcome.server.rest_refused == 1
    assert times[1] - times[0] >= 1.0  # nothing was sent during the ban
    assert_only_unservable_trades_missing(frames, sink, market, outcome, tmp_path)


def test_a_spot_gap_is_never_filled_from_the_usd_m_market_with_the_same_ids(tmp_path):
    """BTCUSDT spot and USD-M share trade ids here (generated from one profile). Spot trades
    lost on the websocket and pruned from spot REST stay a recorded, unfillable spot gap -
    even though USD-M's REST holds trades with exactly those ids."""
    spot = list(generate_frames(["BTCUSDT"], 1_000, seed=8))
    usdm = list(generate_frames(["BTCUSDT"], 1_000, seed=8, market="usdm"))
    spot_out, spot_sink = play("spot", spot, tmp_path / "spot",
                               Faults(gap_every=400, gap_size=5, gap_lost=True),
                               allow_open_gaps=True)  # fmt: skip
    usdm_out, usdm_sink = play("usdm", usdm, tmp_path / "usdm")
    lost = set(expected_ids(spot)["BTCUSDT"]) - set(delivered_ids(spot_sink)["BTCUSDT"])
    assert len(lost) == spot_out.server.gap_trades_withheld > 0
    assert lost <= set(delivered_ids(usdm_sink, "usdm")["BTCUSDT"])  # USD-M had those ids
    records = [
        json.loads(line) for line in (tmp_path / "spot" / "gaps.jsonl").read_text().splitlines()
    ]
    assert {r["status"] for r in records} == {"open", "unfillable"}
    assert {r["market"] for r in records} == {"spot"}
    assert sum(r.get("unserved", 0) for r in records) == len(lost)
    assert usdm_out.connector.stats.gaps == 0


def as_agg_trades(frames):
    """Each trade frame as the aggTrade frame of a one-trade aggregate (a = f = l = t), as
    Binance sends for a taker order filled at one price against one maker."""
    converted = []
    for recorded in frames:
        message = json.loads(recorded.frame)
        data = message["data"]
        if data.get("e") != "trade":
            continue
        agg = {"e": "aggTrade", "E": data["E"], "s": data["s"], "a": data["t"], "p": data["p"],
               "q": data["q"], "f": data["t"], "l": data["t"], "T": data["T"],
               "m": data["m"]}  # fmt: skip
        if "M" in data:
            agg["M"] = data["M"]
        stream = message["stream"].replace("@trade", "@aggTrade")
        frame = json.dumps({"stream": stream, "data": agg}, separators=(",", ":")).encode()
        converted.append(RecordedFrame(recorded.receive_ns, frame))
    return converted


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_an_agg_trade_gap_is_backfilled_from_the_agg_trades_endpoint(market, tmp_path):
    symbols = ["BTCUSDT", "ETHUSDT"]
    frames = as_agg_trades(generate_frames(symbols, 800, seed=8, market=market))
    outcome, sink = play(market, frames, tmp_path, Faults(gap_every=300, gap_size=5),
                         kinds=("aggTrade",))  # fmt: skip
    got = delivered_ids(sink, market)
    for symbol, ids in expected_ids(frames, market).items():
        assert sorted(got[symbol]) == sorted(ids), symbol
    assert outcome.connector.stats.gaps >= 4
    assert outcome.connector.stats.backfilled >= outcome.server.gap_trades_withheld > 0


@pytest.mark.parametrize(
    ("saved_days_ago", "why"),
    [(100, "older than REST's reach of 90 days"), (1, "REST serves order-book (MARKET)")],
)
def test_a_gap_left_open_past_rest_reach_is_recorded_unfillable_without_asking_rest(
    saved_days_ago, why, tmp_path
):
    """A USD-M connector stopped with ids 100..149 below its first trade still missing. Saved
    100 days ago, past the three months historicalTrades reaches back, the range is recorded
    unfillable at start without a request; saved yesterday, it is asked for, and REST's answer
    (it starts after them) proves it will never serve them."""
    frames = futures_frames("usdm", 300)
    first_id = min(expected_ids(frames, "usdm")["BTCUSDT"])
    saved_at_ms = int((time.time() - saved_days_ago * 86_400) * 1000)
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "resume.json").write_text(json.dumps({
        "BTCUSDT": {"highest": first_id - 1, "open": [[first_id - 150, first_id - 101]],
                    "saved_at_ms": saved_at_ms},
    }))  # fmt: skip
    outcome, sink = play("usdm", frames, tmp_path)
    assert outcome.drained
    records = [json.loads(line) for line in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    old = [r for r in records if r["first_id"] == first_id - 150][-1]  # its final status
    assert (old["status"], old["unserved"], old["market"]) == ("unfillable", 50, "usdm")
    assert why in old["reason"]
    assert outcome.connector.open_gap_ids == 0
    for symbol, ids in expected_ids(frames, "usdm").items():  # the session itself is whole
        assert sorted(delivered_ids(sink, "usdm")[symbol]) == sorted(ids), symbol


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_agg_trades_missed_during_the_last_outage_are_caught_up_after_the_reconnect(
    market, tmp_path
):
    """ETHUSDT's last aggregates are published while the connection is down, and nothing
    after them reveals a gap. After the reconnect the 24-hour ticker says ETHUSDT traded
    past the last trade its aggregates covered, so its aggregates are fetched from the
    aggTrades endpoint: the session still ends whole."""
    frames = as_agg_trades(generate_frames(["BTCUSDT", "ETHUSDT"], 300, seed=8, market=market))
    last, eth = frames[-1], max(expected_ids(frames, market)["ETHUSDT"])
    tail = [  # one-trade aggregates: aggregate id = trade id, as as_agg_trades makes them
        RecordedFrame(last.receive_ns + 1_000 * i, _agg_frame("ETHUSDT", eth + i, market))
        for i in range(1, 11)
    ]
    frames += tail
    # the connection drops right after the last frame before the tail
    outcome, sink = play(market, frames, tmp_path, Faults(drop_every=len(frames) - len(tail)),
                         kinds=("aggTrade",))  # fmt: skip
    assert outcome.drained
    assert outcome.server.dropped_connections == 1
    got = delivered_ids(sink, market)
    for symbol, ids in expected_ids(frames, market).items():
        assert sorted(got[symbol]) == sorted(ids), symbol
    assert outcome.connector.stats.gaps == 0  # found by the catch-up, not by a gap
    assert outcome.connector.stats.backfilled == len(tail)


def _agg_frame(symbol: str, aggregate_id: int, market: str) -> bytes:
    data = {"e": "aggTrade", "E": 1_723_161_400_000, "s": symbol, "a": aggregate_id,
            "p": "2650.10000000", "q": "0.10000000", "f": aggregate_id, "l": aggregate_id,
            "T": 1_723_161_400_000, "m": True}  # fmt: skip
    if market == "spot":
        data["M"] = True
    stream = f"{symbol.lower()}@aggTrade"
    return json.dumps({"stream": stream, "data": data}, separators=(",", ":")).encode()

"""Fill id gaps from Binance REST of the connector's market (`/api/v3`, `/fapi/v1` or
`/dapi/v1`: k2_connector.markets): `historicalTrades` for trade streams, `aggTrades` (by
aggregate id) for aggTrade streams.

Rows come back in REST shape and are turned into the websocket trade frames that market
would have sent, marked with `"k2":"backfill"` (kept by normalize in vendor_data) so the lake
can tell where a row came from. REST rows carry neither spot's `M` nor futures' `X`: a
backfilled spot trade is a best match, as every spot trade since 2023 is, and a backfilled
futures trade is a MARKET trade, the only kind futures REST serves (Binance's docs).
Every request spends from the connector's one REST weight budget (k2_connector.rest_budget).

REST may pass over ids it is asked for: futures REST omits insurance-fund and ADL trades, and
every endpoint forgets trades past its reach. Each page asks for one row past the range, so a
row beyond the missing ids proves REST will never serve them; they are reported as unserved
(recorded, never retried), while ids above the newest row REST holds may simply not be there
yet and stay missing.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from k2_connector.markets import MARKET_APIS, MarketApi
from k2_connector.rest import RestClient


def rest_trade_frame(symbol: str, row: dict[str, Any], market: str = "spot") -> bytes:
    """A historicalTrades row as the websocket trade frame `market` would have sent."""
    data = {
        "e": "trade", "E": row["time"], "s": symbol, "t": row["id"], "p": row["price"],
        "q": row["qty"], "T": row["time"], "m": row["isBuyerMaker"],
    }  # fmt: skip
    if market != "spot":
        data["X"] = "MARKET"
    return _backfill_frame(symbol, data, market, row.get("isBestMatch", True))


def rest_agg_trade_frame(symbol: str, row: dict[str, Any], market: str = "spot") -> bytes:
    """An aggTrades row (a, p, q, f, l, T, m, and M on spot) as the aggTrade frame."""
    data = {
        "e": "aggTrade", "E": row["T"], "s": symbol, "a": row["a"], "p": row["p"],
        "q": row["q"], "f": row["f"], "l": row["l"], "T": row["T"], "m": row["m"],
    }  # fmt: skip
    return _backfill_frame(symbol, data, market, row.get("M", True))


def _backfill_frame(symbol: str, data: dict[str, Any], market: str, best_match: bool) -> bytes:
    """The combined-stream frame of `data` (a trade or aggTrade event), with spot's best-match
    flag and the backfill mark."""
    if market == "spot":
        data["M"] = best_match
    data["k2"] = "backfill"
    stream = f"{symbol.lower()}@{data['e']}"
    return json.dumps({"stream": stream, "data": data}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Endpoint:
    path: str
    weight: int
    page_limit: int
    id_field: str
    frame: Callable[[str, dict[str, Any], str], bytes]


Unserved = Callable[[int, int], None]  # (first id, last id) REST passed over


class Backfiller:
    def __init__(self, rest: RestClient, api: MarketApi = MARKET_APIS["spot"]) -> None:
        self._rest, self._api = rest, api
        self._endpoints = {
            "trade": _Endpoint(api.rest_path("historicalTrades"), api.historical_trades_weight,
                               api.historical_trades_limit, "id", rest_trade_frame),
            "aggTrade": _Endpoint(api.rest_path("aggTrades"), api.agg_trades_weight,
                                  api.agg_trades_limit, "a", rest_agg_trade_frame),
        }  # fmt: skip
        self.trades = 0

    async def fetch(
        self, symbol: str, first_id: int, last_id: int, deliver: Callable[[bytes], Awaitable[None]],
        kind: str = "trade", unserved: Unserved | None = None,
    ) -> int:  # fmt: skip
        """Deliver `kind` ids first_id..last_id (or up to the newest when last_id < 0), a page
        of at most the market's row limit at a time; ids REST proves it will not serve are
        reported to `unserved` before the row after them is delivered."""
        endpoint = self._endpoints[kind]
        next_id, delivered = first_id, 0
        while last_id < 0 or next_id <= last_id:
            # one row past the range: the witness that REST has nothing more inside it
            wanted = endpoint.page_limit if last_id < 0 else last_id - next_id + 2
            limit = min(endpoint.page_limit, wanted)
            params = {"symbol": symbol, "fromId": next_id, "limit": limit}
            rows: list[dict[str, Any]] = await self._rest.get_json(
                endpoint.path, params, endpoint.weight
            )
            for row in rows:
                row_id = row[endpoint.id_field]
                if row_id < next_id:  # not asked for; never moves the position back
                    continue
                if row_id > next_id and unserved:
                    unserved(next_id, row_id - 1 if last_id < 0 else min(row_id - 1, last_id))
                if 0 <= last_id < row_id:
                    return self._count(delivered)
                await deliver(endpoint.frame(symbol, row, self._api.market))
                delivered += 1
                next_id = row_id + 1
            if len(rows) < limit:
                break
        return self._count(delivered)

    def _count(self, delivered: int) -> int:
        self.trades += delivered
        return delivered

"""Fill trade-id gaps from Binance REST `GET /api/v3/historicalTrades`.

Rows come back in REST shape and are turned into websocket trade frames, marked with
`"k2":"backfill"` (kept by normalize in vendor_data) so the lake can tell where a row came from.
Every request spends from the connector's one REST weight budget (k2_connector.rest_budget).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from k2_connector.rest import RestClient

PAGE_LIMIT = 1000  # Binance's maximum for historicalTrades
HISTORICAL_TRADES_PATH = "/api/v3/historicalTrades"
HISTORICAL_TRADES_WEIGHT = 25  # Binance spot REST docs: GET /api/v3/historicalTrades


def rest_trade_frame(symbol: str, row: dict[str, Any]) -> bytes:
    """A historicalTrades row as the websocket trade frame Binance would have sent."""
    data = {
        "e": "trade", "E": row["time"], "s": symbol, "t": row["id"], "p": row["price"],
        "q": row["qty"], "T": row["time"], "m": row["isBuyerMaker"],
        "M": row.get("isBestMatch", True), "k2": "backfill",
    }  # fmt: skip
    return json.dumps(
        {"stream": f"{symbol.lower()}@trade", "data": data}, separators=(",", ":")
    ).encode()


class Backfiller:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest
        self.trades = 0

    async def fetch(
        self, symbol: str, first_id: int, last_id: int, deliver: Callable[[bytes], Awaitable[None]]
    ) -> int:
        """Deliver trades first_id..last_id (or up to the newest when last_id < 0)."""
        next_id, delivered = first_id, 0
        while last_id < 0 or next_id <= last_id:
            limit = PAGE_LIMIT if last_id < 0 else min(PAGE_LIMIT, last_id - next_id + 1)
            rows = await self._page(symbol, next_id, limit)
            rows = [row for row in rows if last_id < 0 or row["id"] <= last_id]
            for row in rows:
                await deliver(rest_trade_frame(symbol, row))
            delivered += len(rows)
            if len(rows) < limit or not rows:
                break
            next_id = rows[-1]["id"] + 1
        self.trades += delivered
        return delivered

    async def _page(self, symbol: str, from_id: int, limit: int) -> list[dict[str, Any]]:
        params = {"symbol": symbol, "fromId": from_id, "limit": limit}
        rows: list[dict[str, Any]] = await self._rest.get_json(
            HISTORICAL_TRADES_PATH, params, HISTORICAL_TRADES_WEIGHT
        )
        return rows

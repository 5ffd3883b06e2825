"""Fill trade-id gaps from Binance REST `GET /api/v3/historicalTrades`.

Rows come back in REST shape and are turned into websocket trade frames, marked with
`"k2":"backfill"` (kept by normalize in vendor_data) so the lake can tell where a row came from.
Every request spends from the connector's one REST weight budget (k2_connector.rest_budget).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from k2_connector.rest_budget import RestBudget

log = logging.getLogger(__name__)
PAGE_LIMIT = 1000  # Binance's maximum for historicalTrades
HISTORICAL_TRADES_WEIGHT = 25  # Binance spot REST docs: GET /api/v3/historicalTrades


class RateLimitedError(RuntimeError):
    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after_s:.0f} s")
        self.retry_after_s = retry_after_s


@dataclass
class BackfillStats:
    requests: int = 0
    trades: int = 0
    failures: int = 0


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
    def __init__(
        self, rest_base_url: str, budget: RestBudget, api_key: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:  # fmt: skip
        self._base = rest_base_url.rstrip("/")
        self._budget = budget
        self._headers = {"X-MBX-APIKEY": api_key} if api_key else {}
        self._timeout_s = timeout_s
        self.stats = BackfillStats()

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
        self.stats.trades += delivered
        return delivered

    async def _page(self, symbol: str, from_id: int, limit: int) -> list[dict[str, Any]]:
        query = urlencode({"symbol": symbol, "fromId": from_id, "limit": limit})
        request = urllib.request.Request(  # noqa: S310 - http(s) base URL from configuration
            f"{self._base}/api/v3/historicalTrades?{query}", headers=self._headers
        )
        async with self._budget.request(HISTORICAL_TRADES_WEIGHT):
            self.stats.requests += 1
            try:
                body, used_weight = await asyncio.to_thread(self._read, request)
            except urllib.error.HTTPError as error:
                self.stats.failures += 1
                if error.code in (418, 429):
                    retry_after_s = float(error.headers.get("Retry-After", "60"))
                    self._budget.hold(retry_after_s)  # every backfill waits, not just this one
                    raise RateLimitedError(retry_after_s) from None
                raise
        if used_weight is not None:
            self._budget.observe_used_weight(used_weight)
        rows: list[dict[str, Any]] = json.loads(body)
        return rows

    def _read(self, request: urllib.request.Request) -> tuple[bytes, int | None]:
        with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
            body: bytes = response.read()
            used = response.headers.get("X-MBX-USED-WEIGHT-1M")
            return body, int(used) if used and used.isdigit() else None

"""Binance's three markets as the connector speaks to them, in one place: websocket base URL
and route per stream kind, REST base and paths, request weights, page limits and the per-IP
weight limit.

Sources (Binance developer docs and changelogs):
- Spot: wss://stream.binance.com:9443, https://api.binance.com; 6,000 weight a minute per IP;
  historicalTrades and aggTrades pages of up to 1,000 rows; 1,024 streams a connection; the
  server pings every 20 s and drops a client silent for a minute.
- USD-M futures: wss://fstream.binance.com, https://fapi.binance.com; 2,400 weight a minute.
  Since the 2026-03 WebSocket change notice the stream URLs are split by traffic class:
  `/public` carries high-frequency public data, `/market` regular market data such as
  `aggTrade` and `markPrice`, and a stream asked for on the wrong route delivers nothing,
  silently (the failure cryptofeed's users met on an old URL). `trade` is routed to `/public`.
  historicalTrades pages hold at most 500 rows and reach back three months; aggTrades reach
  back one year. Both serve market trades only (filled in the order book): insurance-fund and
  ADL trades reach us on the websocket or not at all. Futures servers ping every 3 minutes
  and drop a client that has not answered within 10; we keep futures connections to 200
  streams, the limit Binance long documented for them (spot's is 1,024).
- COIN-M futures: wss://dstream.binance.com, https://dapi.binance.com; 2,400 weight a minute;
  delivery contracts keep their `_YYMMDD` symbols, perpetuals end in `_PERP`; REST pages, reach
  and market-trades-only as USD-M.
The weights here are what the budget (k2_connector.rest_budget) spends before a request; the
server's own count (X-MBX-USED-WEIGHT-1M) corrects it after every answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class MarketApi:
    market: str
    ws_url: str
    rest_url: str
    rest_prefix: str  # /api/v3, /fapi/v1, /dapi/v1
    weight_per_minute: int  # Binance's per-IP limit
    historical_trades_weight: int
    historical_trades_limit: int
    agg_trades_weight: int
    agg_trades_limit: int
    exchange_info_weight: int
    status_field: str  # exchangeInfo's name for a symbol's state
    ticker_weight: int  # the 24-hour ticker of every symbol
    max_streams_per_connection: int
    server_ping_interval_s: float  # how the exchange pings (the replay server does the same)
    server_ping_timeout_s: float
    routes: dict[str, str] = field(default_factory=dict)  # stream kind -> URL path prefix
    # stream kind -> how many days back its REST endpoint serves (absent: no documented limit)
    rest_reach_days: dict[str, int] = field(default_factory=dict)
    rest_market_trades_only: bool = False  # REST omits insurance-fund and ADL trades

    def unserved_reason(self, kind: str) -> str:
        """Why REST passed over ids it was asked for, as the gap log records it."""
        reach = self.rest_reach_days.get(kind)
        reasons = [f"REST reaches back {reach} days" if reach else "REST no longer holds them"]
        if self.rest_market_trades_only:
            reasons.insert(0, "REST serves order-book (MARKET) trades only")
        return "; ".join(reasons)

    def route(self, kind: str) -> str:
        """The path a `kind` stream (trade, aggTrade) is served under ('' for the root)."""
        return self.routes.get(kind, "")

    def rest_path(self, endpoint: str) -> str:
        return f"{self.rest_prefix}/{endpoint}"


USDM = MarketApi(
    "usdm", "wss://fstream.binance.com", "https://fapi.binance.com", "/fapi/v1",
    weight_per_minute=2_400, historical_trades_weight=20, historical_trades_limit=500,
    agg_trades_weight=20, agg_trades_limit=1_000, exchange_info_weight=1,
    status_field="status", ticker_weight=40, max_streams_per_connection=200,
    server_ping_interval_s=180.0, server_ping_timeout_s=600.0,
    routes={"trade": "/public", "aggTrade": "/market"},
    rest_reach_days={"trade": 90, "aggTrade": 365}, rest_market_trades_only=True,
)  # fmt: skip
MARKET_APIS = {
    "spot": MarketApi(
        "spot", "wss://stream.binance.com:9443", "https://api.binance.com", "/api/v3",
        weight_per_minute=6_000, historical_trades_weight=25, historical_trades_limit=1_000,
        agg_trades_weight=4, agg_trades_limit=1_000, exchange_info_weight=20,
        status_field="status", ticker_weight=80, max_streams_per_connection=1_024,
        server_ping_interval_s=20.0, server_ping_timeout_s=60.0,
    ),
    "usdm": USDM,
    # COIN-M: USD-M's weights, limits, pings and REST reach, on its own hosts, one route
    "coinm": replace(
        USDM, market="coinm", ws_url="wss://dstream.binance.com",
        rest_url="https://dapi.binance.com", rest_prefix="/dapi/v1",
        status_field="contractStatus", routes={},
    ),
}  # fmt: skip

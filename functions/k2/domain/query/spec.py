"""What a user may ask, validated before any SQL exists.

Every value a request carries is checked here (symbol pattern, market, interval enum, bounded
time range, capped limit) and later bound as a query parameter, never formatted into SQL. A
`QueryError` is the user's mistake: the handler answers it with HTTP 400 and its message.

Every kind but `sql` reads one market unless asked for more (`market=spot` by default,
`usdm`, `coinm`, a comma list, or `all`): BTCUSDT is both a spot pair and a USD-M perpetual,
and a query by symbol alone would mix two instruments.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from k2.domain.instrument import DEFAULT_MARKET, EXCHANGE_BY_MARKET, MARKETS

# Letters and digits, and `_` after the first: COIN-M's BTCUSD_PERP and BTCUSD_251226.
SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9_]{1,29}")
ALL_MARKETS = "all"
# Which futures trades a bar counts: `market` (order-book trades, the default, as Binance's
# own klines) or `all` (also insurance-fund, ADL and any other execution type).
BAR_TRADES = ("market", "all")
INTERVAL_SECONDS = {"1s": 1, "1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "1d": 86_400}
MAX_TRADES_PAGE = 10_000
MAX_LATEST = 1_000
MAX_SYMBOLS = 50
MAX_SQL_CHARS = 20_000
# Bounded scans: a request never asks Athena to read more than this span.
MAX_RANGE = {"trades": timedelta(days=31), "ohlcv": timedelta(days=366)}
# A bar query returns at most this many bars (e.g. 1s bars over a year would be 31 M).
MAX_BARS = 100_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The HTTP header a CSV or Parquet page of trades carries its next page's cursor in (a JSON
# page has it in its body as `next_cursor`).
NEXT_CURSOR_HEADER = "x-k2-next-cursor"


class QueryError(ValueError):
    """The request is invalid; the message says why (HTTP 400)."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime  # inclusive
    end: datetime  # exclusive


@dataclass(frozen=True)
class Cursor:
    """Position after the last trade of a page, in the page order: (trade time in µs, the
    trade's TradeV2 exchange, exchange trade id). Two markets' trades can share a time and an
    id, so the exchange is part of the position."""

    timestamp_us: int
    exchange: str
    source_sequence: int

    def encode(self) -> str:
        raw = orjson.dumps([self.timestamp_us, self.exchange, self.source_sequence])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            timestamp_us, exchange, sequence = orjson.loads(base64.urlsafe_b64decode(padded))
            if not all(type(v) is int and v >= 0 for v in (timestamp_us, sequence)):
                raise ValueError
            if exchange not in EXCHANGE_BY_MARKET.values():
                raise ValueError
        except (ValueError, TypeError, orjson.JSONDecodeError) as error:
            raise QueryError("cursor is not one this service issued") from error
        return cls(timestamp_us, exchange, sequence)


Markets = tuple[str, ...]  # the markets a query reads, in MARKETS order
SPOT: Markets = (DEFAULT_MARKET,)


@dataclass(frozen=True)
class TradesQuery:
    symbol: str
    time: TimeRange
    limit: int = 1_000
    cursor: Cursor | None = None
    markets: Markets = SPOT


@dataclass(frozen=True)
class OhlcvQuery:
    symbols: tuple[str, ...]
    interval: str
    time: TimeRange
    markets: Markets = SPOT
    trades: str = "market"  # one of BAR_TRADES


@dataclass(frozen=True)
class LatestQuery:
    symbols: tuple[str, ...]  # empty: every symbol
    limit: int = 1  # trades per symbol
    markets: Markets = SPOT


@dataclass(frozen=True)
class SymbolsQuery:
    markets: Markets = SPOT


@dataclass(frozen=True)
class FreshnessQuery:
    markets: Markets = SPOT


@dataclass(frozen=True)
class SqlQuery:
    sql: str


QuerySpec = TradesQuery | OhlcvQuery | LatestQuery | SymbolsQuery | FreshnessQuery | SqlQuery
KINDS = ("trades", "ohlcv", "latest", "symbols", "freshness", "sql")


def parse_request(kind: str, params: Mapping[str, str], now: datetime | None = None) -> QuerySpec:
    """Build a validated spec from string parameters (a query string, or CLI options)."""
    now = now or datetime.now(UTC)
    known = PARAMETERS.get(kind)
    if known is None:
        raise QueryError(f"unknown query '{kind}'; one of: {', '.join(KINDS)}")
    unknown = sorted(set(params) - known)
    if unknown:
        raise QueryError(f"unknown parameter(s) for {kind}: {', '.join(unknown)}")
    if kind == "sql":
        text = _required(params, "sql")
        if len(text) > MAX_SQL_CHARS:
            raise QueryError(f"sql is longer than {MAX_SQL_CHARS:,} characters")
        return SqlQuery(text)
    chosen_markets = markets(params.get("market") or DEFAULT_MARKET)
    if kind == "trades":
        return TradesQuery(
            symbol=symbol(_required(params, "symbol")),
            time=time_range(params, now, MAX_RANGE["trades"]),
            limit=_bounded_int(params, "limit", 1_000, MAX_TRADES_PAGE),
            cursor=Cursor.decode(params["cursor"]) if params.get("cursor") else None,
            markets=chosen_markets,
        )
    if kind == "ohlcv":
        return _ohlcv(params, now, chosen_markets)
    if kind == "latest":
        chosen = symbols(params["symbols"]) if params.get("symbols") else ()
        return LatestQuery(chosen, _bounded_int(params, "limit", 1, MAX_LATEST), chosen_markets)
    if kind == "symbols":
        return SymbolsQuery(chosen_markets)
    return FreshnessQuery(chosen_markets)


def _ohlcv(params: Mapping[str, str], now: datetime, chosen_markets: Markets) -> OhlcvQuery:
    interval = params.get("interval", "1m")
    if interval not in INTERVAL_SECONDS:
        raise QueryError(f"interval must be one of {', '.join(INTERVAL_SECONDS)}")
    span = time_range(params, now, MAX_RANGE["ohlcv"])
    bars = (span.end - span.start).total_seconds() / INTERVAL_SECONDS[interval]
    if bars > MAX_BARS:
        raise QueryError(f"{bars:,.0f} {interval} bars requested; at most {MAX_BARS:,}")
    trades = params.get("trades") or BAR_TRADES[0]
    if trades not in BAR_TRADES:
        raise QueryError(f"trades must be one of {', '.join(BAR_TRADES)}; got {trades!r}")
    chosen = symbols(_required(params, "symbols"))
    return OhlcvQuery(chosen, interval, span, chosen_markets, trades)


PARAMETERS = {
    "trades": {"symbol", "market", "start", "end", "limit", "cursor"},
    "ohlcv": {"symbols", "market", "interval", "start", "end", "trades"},
    "latest": {"symbols", "market", "limit"},
    "symbols": {"market"},
    "freshness": {"market"},
    "sql": {"sql"},
}


def markets(value: str) -> Markets:
    """`spot`, `usdm`, `coinm`, a comma list of them, or `all`; in MARKETS order."""
    names = {part.strip().lower() for part in value.split(",")}
    if names == {ALL_MARKETS}:
        return MARKETS
    unknown = sorted(names - set(MARKETS))
    if unknown:
        raise QueryError(
            f"market must be {', '.join(MARKETS)}, a comma list of them, or {ALL_MARKETS};"
            f" got {', '.join(repr(name) for name in unknown)}"
        )
    return tuple(market for market in MARKETS if market in names)


def symbol(value: str) -> str:
    upper = value.strip().upper()
    if not SYMBOL.fullmatch(upper):
        raise QueryError(
            f"symbol must be 2-30 letters, digits or _ (e.g. BTCUSDT, BTCUSD_PERP); got {value!r}"
        )
    return upper


def symbols(value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(symbol(part) for part in value.split(",")))
    if len(chosen) > MAX_SYMBOLS:
        raise QueryError(f"at most {MAX_SYMBOLS} symbols per query")
    return chosen


def time_range(params: Mapping[str, str], now: datetime, longest: timedelta) -> TimeRange:
    """`start`/`end` as ISO 8601 (UTC if no offset) or epoch milliseconds; end defaults to
    now, start to one day before end."""
    end = instant(params["end"], "end") if params.get("end") else now
    start = instant(params["start"], "start") if params.get("start") else end - timedelta(days=1)
    if start >= end:
        raise QueryError("start must be before end")
    if end - start > longest:
        raise QueryError(f"time range is longer than {longest.days} days")
    return TimeRange(start, end)


def instant(value: str, name: str) -> datetime:
    text = value.strip()
    try:
        if text.isascii() and text.isdigit() and len(text) <= 13:
            return EPOCH + timedelta(milliseconds=int(text))
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError) as error:
        raise QueryError(f"{name} must be ISO 8601 or epoch milliseconds; got {value!r}") from error
    if not text.isascii():
        raise QueryError(f"{name} must be ISO 8601 or epoch milliseconds; got {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value.strip():
        raise QueryError(f"missing parameter: {name}")
    return value


def _bounded_int(params: Mapping[str, str], name: str, default: int, most: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        raise QueryError(f"{name} must be an integer from 1 to {most:,}; got {raw!r}")
    return int(raw)

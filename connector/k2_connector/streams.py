"""Which websocket URLs to open for a set of symbols.

Binance allows at most 1024 streams per connection and 5 incoming messages per second; we
subscribe through the combined-stream URL (`/stream?streams=a@trade/b@trade`), so subscribing
sends no messages at all, and split the streams over as many connections as needed: at most
1024 streams each, and a URL of at most MAX_URL_BYTES. Binance documents no URL limit, but
HTTP servers and proxies commonly refuse request lines past 8 KiB (the websockets library
does), and 1024 streams of whole-market symbols make a ~17 KB URL.
"""

from __future__ import annotations

from collections.abc import Sequence

from k2_connector.markets import MARKET_APIS

BINANCE_WS_URL = MARKET_APIS["spot"].ws_url  # spot; futures: k2_connector.markets
BINANCE_DATA_WS_URL = "wss://data-stream.binance.vision"  # spot market data only
BINANCE_REST_URL = MARKET_APIS["spot"].rest_url
MAX_STREAMS_PER_CONNECTION = 1024
MAX_URL_BYTES = 8_000


def stream_names(symbols: Sequence[str], kinds: Sequence[str] = ("trade",)) -> list[str]:
    return [f"{symbol.lower()}@{kind}" for symbol in symbols for kind in kinds]


def connection_urls(
    base_url: str, streams: Sequence[str], per_connection: int = MAX_STREAMS_PER_CONNECTION
) -> list[str]:
    if not 1 <= per_connection <= MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"streams per connection must be 1..{MAX_STREAMS_PER_CONNECTION}")
    prefix = f"{base_url.rstrip('/')}/stream?streams="
    urls: list[str] = []
    group: list[str] = []
    for stream in streams:
        longer = len(prefix) + sum(len(s) + 1 for s in group) + len(stream)
        if group and (len(group) == per_connection or longer > MAX_URL_BYTES):
            urls.append(prefix + "/".join(group))
            group = []
        group.append(stream)
    if group:
        urls.append(prefix + "/".join(group))
    return urls


def stream_symbols(url: str) -> set[str]:
    """The (lower-case) symbols whose streams a connection URL subscribes to."""
    _, separator, names = url.partition("?streams=")
    streams = names.split("/") if separator else [url.rsplit("/ws/", 1)[-1]]
    return {stream.partition("@")[0] for stream in streams if stream}


def describe_url(url: str) -> str:
    """A connection URL short enough for a log line: a whole-market URL is ~8 KB of stream
    names, so it is named by its first and last stream and their count."""
    base, separator, names = url.partition("?streams=")
    streams = names.split("/") if separator else []
    if len(streams) <= 3:
        return url
    return f"{base} ({len(streams)} streams: {streams[0]} .. {streams[-1]})"

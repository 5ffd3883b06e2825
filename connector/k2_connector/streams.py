"""Which websocket URLs to open for a set of symbols.

Binance allows at most 1024 streams per connection and 5 incoming messages per second; we
subscribe through the combined-stream URL (`/stream?streams=a@trade/b@trade`), so subscribing
sends no messages at all, and split the streams over as many connections as needed.
"""

from __future__ import annotations

from collections.abc import Sequence

BINANCE_WS_URL = "wss://stream.binance.com:9443"
BINANCE_DATA_WS_URL = "wss://data-stream.binance.vision"
BINANCE_REST_URL = "https://api.binance.com"
MAX_STREAMS_PER_CONNECTION = 1024


def stream_names(symbols: Sequence[str], kinds: Sequence[str] = ("trade",)) -> list[str]:
    return [f"{symbol.lower()}@{kind}" for symbol in symbols for kind in kinds]


def connection_urls(
    base_url: str, streams: Sequence[str], per_connection: int = MAX_STREAMS_PER_CONNECTION
) -> list[str]:
    if not 1 <= per_connection <= MAX_STREAMS_PER_CONNECTION:
        raise ValueError(f"streams per connection must be 1..{MAX_STREAMS_PER_CONNECTION}")
    base = base_url.rstrip("/")
    return [
        f"{base}/stream?streams={'/'.join(streams[start : start + per_connection])}"
        for start in range(0, len(streams), per_connection)
    ]

"""HTTP health endpoints for orchestrators and Prometheus.

/health   liveness: the event loop answers and some connection read a frame within the stall
          timeout (503 otherwise: reading has stopped, replace the task)
/ready    connected, receiving and Kinesis writable (503 otherwise)
/metrics  Prometheus text format, every series labelled with its market

A process capturing several markets answers for all of them: healthy and ready only when
every market's connector is.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from k2_connector.app import Connector

_REQUEST_TIMEOUT_S = 1.0  # the data-path check budget


def prometheus_text(connectors: Sequence[Connector]) -> str:
    return "".join(_market_series(connector) for connector in connectors)


def _market_series(connector: Connector) -> str:
    stats, sink = connector.stats, connector.sink
    market = f'market="{connector.settings.market}"'
    lines = [
        ("k2_connector_frames_in_total", stats.frames_in),
        ("k2_connector_frames_forwarded_total", stats.frames_forwarded),
        ("k2_connector_duplicates_total", stats.duplicates),
        ("k2_connector_gaps_total", stats.gaps),
        ("k2_connector_gap_ids_total", stats.gap_ids),
        ("k2_connector_backfilled_total", stats.backfilled),
        ("k2_connector_backfill_failures_total", stats.backfill_failures),
        ("k2_connector_dead_letters_total", stats.dead_letters),
        ("k2_connector_trade_dead_letters_total", connector.dead_letters.trades),
        ("k2_connector_rest_bans_total", connector.rest_budget.bans),
        ("k2_connector_rest_weight_per_minute", connector.rest_budget.limit),
        ("k2_connector_open_gap_ids", connector.open_gap_ids),
        ("k2_connector_degradation_level", int(sink.level)),
        ("k2_connector_buffer_depth", sink.depth),
        ("k2_connector_journal_bytes", sink.journal_bytes),
        ("k2_connector_kinesis_put_failures_total", sink.stats.put_failures),
        ("k2_connector_kinesis_frames_out_total", sink.stats.frames_out),
        ("k2_connector_kinesis_put_latency_seconds", sink.stats.put_latency_s),
    ]
    text = [f"{name}{{{market}}} {value}" for name, value in lines]
    text += [
        f'k2_connector_reconnects_total{{{market},reason="{reason}"}} {count}'
        for reason, count in sorted(stats.reconnects.items())
    ]
    return "\n".join(text) + "\n"


@contextlib.asynccontextmanager
async def health_server(
    connectors: Sequence[Connector], host: str, port: int
) -> AsyncIterator[int]:
    """Serve the endpoints for the length of the block; yields the bound port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=_REQUEST_TIMEOUT_S)
            path = request.decode("latin-1").split(" ")[1] if request.count(b" ") >= 2 else ""
            status, body = _route(connectors, path)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}".encode()
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def _route(connectors: Sequence[Connector], path: str) -> tuple[str, str]:
    if path == "/health":
        stalled = [c.settings.market for c in connectors if not c.alive()]
        if not stalled:
            return "200 OK", "ok\n"
        return "503 Service Unavailable", f"no frame read within the stall timeout: {stalled}\n"
    if path == "/ready":
        waiting = [c.settings.market for c in connectors if not c.ready()]
        return ("200 OK", "ready\n") if not waiting else ("503 Service Unavailable",
                                                          f"not ready: {waiting}\n")  # fmt: skip
    if path == "/metrics":
        return "200 OK", prometheus_text(connectors)
    return "404 Not Found", "unknown path\n"

"""Run the connector against the replay server until every trade is accounted for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k2.binance.frames import parse_frames
from k2.binance.recording import RecordedFrame
from k2_connector.app import Connector, ConnectorSettings
from k2_connector.sink import FrameWriter
from k2_connector.websocket import ConnectionSettings
from k2_devtools.replay_server import Faults, ReplayServer, ServerStats

FAST_CONNECTIONS = ConnectionSettings(
    no_data_timeout_s=1.0, rotate_after_s=3600, handover_timeout_s=3.0,
    ping_interval_s=1.0, ping_timeout_s=2.0, backoff_cap_s=4.0, stable_after_s=2.0,
)  # fmt: skip


@dataclass
class Outcome:
    connector: Connector
    server: ServerStats
    drained: bool


def expected_ids(frames: Sequence[RecordedFrame], market: str = "spot") -> dict[str, list[int]]:
    trades = parse_frames([f.frame for f in frames], [market] * len(frames)).trades
    ids: dict[str, list[int]] = {}
    for symbol, trade_id in zip(
        trades["symbol"].to_pylist(), trades["source_id"].to_pylist(), strict=True
    ):
        ids.setdefault(symbol, []).append(trade_id)
    return ids


def delivered_ids(frames: Sequence[bytes], market: str = "spot") -> dict[str, list[int]]:
    return expected_ids([RecordedFrame(0, frame) for frame in frames], market)


def connector_settings(
    server: ReplayServer,
    journal_dir: Path,
    symbols: Sequence[str],
    connection: ConnectionSettings = FAST_CONNECTIONS,
    **overrides: Any,
) -> ConnectorSettings:
    """The connector on the replay server's websocket and REST, with test-speed timings."""
    return ConnectorSettings(
        symbols=tuple(sorted(symbols)), ws_base_url=server.url, rest_base_url=server.rest_url,
        connection=connection, journal_dir=journal_dir, flush_interval_s=0.05, **overrides,
    )  # fmt: skip


async def run_until(
    connector: Connector, condition: Callable[[], bool], timeout_s: float
) -> tuple[bool, float]:
    """Run the connector until `condition()` holds (or the timeout), then stop it; returns
    (everything delivered to Kinesis, seconds the stop took)."""
    running = asyncio.create_task(connector.run())
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not condition() and not running.done():
        await asyncio.sleep(0.05)
    stopping = time.monotonic()
    connector.stop()
    drained = await running
    return drained, time.monotonic() - stopping


async def run_connector(
    frames: Sequence[RecordedFrame],
    write: FrameWriter,
    journal_dir: Path,
    faults: Faults | None = None,
    speed: float = 20.0,
    connection: ConnectionSettings = FAST_CONNECTIONS,
    timeout_s: float = 90.0,
    allow_open_gaps: bool = False,
    market: str = "spot",
    **overrides: Any,
) -> Outcome:
    """overrides: ConnectorSettings fields (buffer_frames, symbol_silence_s, ...)."""
    want = expected_ids(frames, market)
    async with ReplayServer(
        frames, speed=speed, faults=faults, ping_interval_s=1.0, ping_timeout_s=2.0,
        market=market,
    ) as server:  # fmt: skip
        settings = connector_settings(
            server, journal_dir, list(want), connection, market=market, **overrides
        )
        connector = Connector(settings, write)

        def complete() -> bool:
            return server.finished.is_set() and _complete(connector, want, allow_open_gaps)

        drained, _ = await run_until(connector, complete, timeout_s)
        return Outcome(connector, server.stats, drained)


def caught_up(connector: Connector, want: dict[str, list[int]]) -> bool:
    """Every symbol's highest id seen, nothing open, nothing running, nothing buffered."""
    return _complete(connector, want, allow_open_gaps=False)


def _complete(connector: Connector, want: dict[str, list[int]], allow_open_gaps: bool) -> bool:
    kind = connector.settings.kinds[0]  # the stream kind the ids are of
    caught_up = all(
        connector.sequencer.highest(f"{symbol}@{kind}") == max(ids) for symbol, ids in want.items()
    )
    return (
        caught_up
        and (allow_open_gaps or connector.open_gap_ids == 0)
        and not connector.backfilling
        and connector.sink.drained
    )

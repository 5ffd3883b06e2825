"""`k2 record`: live Binance frames to recording files, the format every replay tool reads.

One `<receive_ns> <frame>` per line, gzip, a file per UTC day (`<prefix>-YYYY-MM-DD.gz`).
Connections are supervised like the connector's (reconnect, watchdog, rotation); frames are
written as received, nothing is parsed or filtered.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from datetime import UTC, datetime
from pathlib import Path

from k2_connector.streams import connection_urls, stream_names
from k2_connector.websocket import Connection, ConnectionSettings, Supervisor


class DailyRecordingWriter:
    def __init__(self, prefix: Path) -> None:
        self._prefix = prefix
        self._day = ""
        self._file: gzip.GzipFile | None = None
        self.frames = 0

    def write(self, receive_ns: int, frame: bytes) -> None:
        day = datetime.fromtimestamp(receive_ns / 1e9, UTC).strftime("%Y-%m-%d")
        if day != self._day:
            self.close()
            self._day = day
            self._file = gzip.open(f"{self._prefix}-{day}.gz", "ab")  # noqa: SIM115 - spans calls
        assert self._file is not None
        self._file.write(b"%d %s\n" % (receive_ns, frame))
        self.frames += 1

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None


async def record(
    symbols: list[str],
    ws_base_url: str,
    out_prefix: Path,
    duration_s: float | None,
    kinds: tuple[str, ...] = ("trade",),
    settings: ConnectionSettings | None = None,
) -> int:
    """Record until duration_s passes (None: until cancelled); returns frames written."""
    writer = DailyRecordingWriter(out_prefix)

    async def on_frame(frame: bytes, _: Connection) -> None:
        writer.write(time.time_ns(), frame)

    supervisors = [
        Supervisor(url, settings or ConnectionSettings(), on_frame, lambda _: None, lambda _: None)
        for url in connection_urls(ws_base_url, stream_names(symbols, kinds))
    ]
    tasks = [asyncio.create_task(supervisor.run()) for supervisor in supervisors]
    try:
        await asyncio.wait(tasks, timeout=duration_s)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
    return writer.frames

"""`k2 record`: live Binance frames to replayable files (k2_connector.recorder)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from k2_devtools.cli.format import comma_list


@click.command(
    help="Write '<receive_ns> <frame>' lines, gzip, one file per UTC day (<out>-YYYY-MM-DD.gz). "
    "Replay them with `k2 run --replay` or k2-replay-server.",
    short_help="record live Binance frames to replayable files",
)
@click.option("--symbols", required=True, help="comma-separated, e.g. btcusdt,ethusdt")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="file prefix")
@click.option("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
@click.option(
    "--streams",
    default="trade",
    show_default=True,
    help="stream kinds, e.g. trade,aggTrade,bookTicker",
)
@click.option("--ws-url", default="wss://stream.binance.com:9443", show_default=True)
def record(symbols: str, out: Path, duration: float | None, streams: str, ws_url: str) -> int:
    from k2_connector.recorder import record as record_frames

    kinds = tuple(comma_list(streams))
    try:
        frames = asyncio.run(record_frames(comma_list(symbols), ws_url, out, duration, kinds))
    except KeyboardInterrupt:
        return 130
    print(f"recorded {frames:,} frames to {out}-<date>.gz")
    return 0

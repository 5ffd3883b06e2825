"""`k2 run`: the whole pipeline on one machine, then a reconciliation against the source.

source frames (generator or recordings) -> Binance-compatible replay server -> the connector
over a real websocket -> Kinesis (KPL-aggregated PutRecords) -> local event source mapping ->
normalize handler, in-process -> Parquet in S3 + Glue partitions -> read back -> per-symbol
expected / landed / missing / duplicated, dead letters, OHLCV bars.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from k2.adapters import aws
from k2.adapters.kinesis_writer import KinesisWriter
from k2.adapters.lake_reader import read_staging
from k2.bars import ohlcv
from k2.binance.frames import parse_frames
from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame, read_recordings
from k2.config import LakeSettings
from k2.local.endpoint import embedded_endpoint, endpoint_environment
from k2.local.environment import scoped_environment
from k2.local.event_source import KinesisEventSource, ShardProgress
from k2.local.resources import LocalStack, create_resources
from k2_connector.app import Connector, ConnectorSettings
from k2_connector.replay_server import ReplayServer
from k2_connector.websocket import ConnectionSettings

# Local runs reconnect quickly: the replay server's recording ends, nothing is rate limited.
LOCAL_CONNECTIONS = ConnectionSettings(no_data_timeout_s=2.0, backoff_cap_s=2.0, stable_after_s=5.0)
# Handlers run in-process: metrics would be EMF lines on stdout, tracing needs the X-Ray daemon.
LOCAL_HANDLER_ENV = {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RunOptions:
    replay: Sequence[Path] = ()
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT", "BNBUSDT")
    trades_per_symbol: int = 5_000
    seed: int = 7
    endpoint_url: str | None = None
    shards: int = 2
    batch_size: int = 100
    bars: int = 5


@dataclass
class SymbolReport:
    symbol: str
    expected: int
    landed_rows: int
    landed_distinct: int
    missing: int
    duplicated: int
    unexpected: int


@dataclass
class RunReport:
    source: str
    endpoint: str
    frames_read: int
    trade_frames: int
    non_trade_frames: int
    rejected_in_source: int
    dead_letters: int
    symbols: list[SymbolReport]
    kinesis: dict[str, int]
    connector: dict[str, int]
    event_source: dict[str, int]
    seconds: dict[str, float]
    bars: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(symbol.missing for symbol in self.symbols)

    @property
    def ok(self) -> bool:
        clean = all(s.duplicated == 0 and s.unexpected == 0 for s in self.symbols)
        return self.lost == 0 and clean and self.dead_letters == self.rejected_in_source

    def to_json(self) -> bytes:
        body = asdict(self) | {"ok": self.ok, "lost": self.lost}
        return orjson.dumps(body, default=str, option=orjson.OPT_INDENT_2)


def run(options: RunOptions, progress: Progress | None = None) -> RunReport:
    say = progress or (lambda stage, done, total: None)
    with ExitStack() as stack:
        endpoint = options.endpoint_url or stack.enter_context(embedded_endpoint())
        stack.enter_context(endpoint_environment(endpoint))
        stack.enter_context(scoped_environment(LOCAL_HANDLER_ENV))
        lake = LakeSettings.from_env()
        stack.enter_context(scoped_environment(lake.as_env()))
        local = LocalStack(lake=lake, shards=options.shards)
        create_resources(local)
        return _run_on(options, local, endpoint, say)


def _run_on(options: RunOptions, local: LocalStack, endpoint: str, say: Progress) -> RunReport:
    from normalize.handler import lambda_handler  # the deployed handler, unchanged

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    source, frames = _source_frames(options)
    seconds["read_source"] = time.perf_counter() - started

    kinesis = aws.client("kinesis", endpoint)
    writer = KinesisWriter(kinesis, local.stream_name)
    expected = parse_frames([recorded.frame for recorded in frames])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="k2-connector-") as journal:
        connector = asyncio.run(
            stream_through_connector(frames, expected.trades, writer.put_frames, Path(journal), say)
        )
    seconds["connector"] = time.perf_counter() - started

    event_source = KinesisEventSource(
        kinesis, local.stream_name, lambda_handler, batch_size=options.batch_size
    )

    def on_batch(_: ShardProgress) -> None:
        say("normalize", sum(s.records for s in event_source.shards.values()), writer.stats.records)

    started = time.perf_counter()
    event_source.drain(on_batch)
    seconds["normalize"] = time.perf_counter() - started

    started = time.perf_counter()
    landed = read_staging(local.lake)
    report = RunReport(
        source=source,
        endpoint=endpoint,
        frames_read=len(frames),
        trade_frames=expected.trades.num_rows,
        non_trade_frames=len(expected.non_trades),
        rejected_in_source=len(expected.rejections),
        dead_letters=count_dead_letters(local.lake),
        symbols=reconcile(expected.trades, landed),
        kinesis=asdict(writer.stats),
        connector={
            "frames_in": connector.stats.frames_in,
            "frames_forwarded": connector.stats.frames_forwarded,
            "duplicates": connector.stats.duplicates,
            "gaps": connector.stats.gaps,
            "backfilled": connector.stats.backfilled,
            "reconnects": sum(connector.stats.reconnects.values()),
        },
        event_source={
            "invocations": sum(s.invocations for s in event_source.shards.values()),
            "retries": sum(s.retries for s in event_source.shards.values()),
        },
        seconds=seconds,
        bars=ohlcv(landed, "1m").slice(0, options.bars).to_pylist() if options.bars else [],
    )
    seconds["reconcile"] = time.perf_counter() - started
    return report


def _source_frames(options: RunOptions) -> tuple[str, list[RecordedFrame]]:
    if options.replay:
        frames = list(read_recordings(options.replay))
        return ", ".join(str(path) for path in options.replay), frames
    generated = generate_frames(options.symbols, options.trades_per_symbol, seed=options.seed)
    description = (
        f"generated: {', '.join(options.symbols)} x {options.trades_per_symbol} trades "
        f"(seed {options.seed})"
    )
    return description, list(generated)


async def stream_through_connector(
    frames: list[RecordedFrame],
    expected_trades: pa.Table,
    write: Callable[[Sequence[bytes]], None],
    journal_dir: Path,
    say: Progress,
    timeout_s: float = 600.0,
) -> Connector:
    """Serve `frames` like Binance (max speed) to a connector writing to Kinesis; return once
    every expected trade id has been forwarded and the connector's sink is drained."""
    last_ids = {
        row["symbol"]: row["source_id_max"]
        for row in expected_trades.filter(pc.equal(expected_trades["market"], "spot"))
        .group_by("symbol")
        .aggregate([("source_id", "max")])
        .to_pylist()
    }
    async with ReplayServer(frames, speed=0) as server:
        settings = ConnectorSettings(
            symbols=tuple(sorted(last_ids)), ws_base_url=server.url,
            rest_base_url=server.rest_url, connection=LOCAL_CONNECTIONS,
            journal_dir=journal_dir, flush_interval_s=0.05,
        )  # fmt: skip
        connector = Connector(settings, write)
        running = asyncio.create_task(connector.run())
        deadline = time.monotonic() + timeout_s
        total = expected_trades.num_rows
        while time.monotonic() < deadline and not _caught_up(connector, last_ids, server):
            say("connector", min(connector.sink.stats.frames_out, total), total)
            await asyncio.sleep(0.2)
        say("connector", total, total)
        connector.stop()
        await running
    return connector


def _caught_up(connector: Connector, last_ids: dict[str, int], server: ReplayServer) -> bool:
    seen_all = all(connector.sequencer.highest(f"{s}@trade") == i for s, i in last_ids.items())
    settled = connector.open_gap_ids == 0 and not connector.backfilling
    return server.finished.is_set() and seen_all and settled and connector.sink.drained


def reconcile(expected_trades: pa.Table, landed: pa.Table) -> list[SymbolReport]:
    """Compare source trade ids with lake rows, per symbol (spot trade ids: source_sequence)."""
    reports = []
    symbols = sorted(set(expected_trades["symbol"].to_pylist()) | set(landed["symbol"].to_pylist()))
    for symbol in symbols:
        want = _ids(expected_trades, "source_id", symbol)
        rows = _ids_list(landed, "source_sequence", symbol)
        have = set(rows)
        reports.append(
            SymbolReport(
                symbol=symbol,
                expected=len(want),
                landed_rows=len(rows),
                landed_distinct=len(have),
                missing=len(want - have),
                duplicated=len(rows) - len(have),
                unexpected=len(have - want),
            )
        )
    return reports


def _ids_list(table: pa.Table, column: str, symbol: str) -> list[int]:
    mask = pc.equal(table["symbol"], symbol)
    return table.filter(mask)[column].to_pylist()


def _ids(table: pa.Table, column: str, symbol: str) -> set[int]:
    return set(_ids_list(table, column, symbol))


def count_dead_letters(lake: LakeSettings) -> int:
    s3 = aws.client("s3", lake.endpoint_url)
    total = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=lake.dead_letter_bucket, Prefix=lake.dead_letter_prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=lake.dead_letter_bucket, Key=item["Key"])["Body"].read()
            total += body.count(b"\n")
    return total

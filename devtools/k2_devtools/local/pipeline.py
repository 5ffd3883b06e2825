"""`k2 run`: the whole pipeline on one machine, then a reconciliation against the source.

source frames (generator or recordings) -> Binance-compatible replay server -> the connector
over a real websocket -> Kinesis (KPL-aggregated PutRecords) -> local event source mapping,
polling while the connector writes -> normalize handler, in-process -> Parquet in S3 + Glue
partitions -> read back -> per-symbol expected / landed / missing / duplicated, dead letters,
on-failure (SQS) records, latency, OHLCV bars.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from k2.adapters import aws
from k2.adapters.iceberg import TradesCommitter, partition_stats, read_trades
from k2.adapters.kinesis.writer import KinesisWriter
from k2.adapters.staging.reader import read_staging
from k2.binance.frames import ParsedFrames, parse_frames
from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame, read_recordings
from k2.config import (
    DEFAULT_FAILURE_QUEUE,
    DEFAULT_STREAM_NAME,
    LakeSettings,
    MappingSettings,
)
from k2.domain.bars import ohlcv
from k2.domain.lake.reconcile import SymbolReport, reconcile
from k2_connector.app import Connector, ConnectorSettings
from k2_connector.websocket import ConnectionSettings
from k2_devtools.local.background import in_background
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.event_source import KinesisEventSource, ShardProgress
from k2_devtools.local.options import RunOptions
from k2_devtools.local.resources import LocalStack, create_resources
from k2_devtools.replay_server import Faults, ReplayServer

# Local runs reconnect quickly: the replay server's recording ends, nothing is rate limited.
LOCAL_CONNECTIONS = ConnectionSettings(no_data_timeout_s=2.0, backoff_cap_s=2.0, stable_after_s=5.0)
# Handlers run in-process: metrics would be EMF lines on stdout, tracing needs the X-Ray daemon.
LOCAL_HANDLER_ENV = {
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}

Progress = Callable[[str, int, int], None]


@dataclass
class RunReport:
    source: str
    endpoint: str
    frames_read: int
    trade_frames: int
    non_trade_frames: int
    rejected_in_source: int
    dead_letters: int
    failed_batches: int  # KinesisBatchInfo records in the on-failure queue
    symbols: list[SymbolReport]
    kinesis: dict[str, int]
    connector: dict[str, int]
    event_source: dict[str, int]
    latency_s: dict[str, float]  # Kinesis arrival -> handler done, per Kinesis record
    seconds: dict[str, float]
    bars: list[dict[str, Any]] = field(default_factory=list)
    # The committer's run and the Iceberg table reconciled like staging (None: no Glue here).
    lake: dict[str, Any] | None = None
    lake_symbols: list[SymbolReport] | None = None

    @property
    def lost(self) -> int:
        return sum(symbol.missing for symbol in self.symbols)

    @property
    def ok(self) -> bool:
        delivered = self.failed_batches == 0 and self.dead_letters == self.rejected_in_source
        return delivered and _exact(self.symbols) and _exact(self.lake_symbols or [])

    def to_json(self) -> bytes:
        body = asdict(self) | {"ok": self.ok, "lost": self.lost}
        return orjson.dumps(body, default=str, option=orjson.OPT_INDENT_2)


def run(options: RunOptions, progress: Progress | None = None) -> RunReport:
    say = progress or (lambda stage, done, total: None)
    with ExitStack() as stack:
        endpoint = options.endpoint_url or stack.enter_context(embedded_endpoint())
        stack.enter_context(endpoint_environment(endpoint))
        stack.enter_context(scoped_environment(LOCAL_HANDLER_ENV))
        local = local_stack(options.endpoint_url, options.shards)
        stack.enter_context(scoped_environment(local.lake.as_env()))
        failure_queue_url = create_resources(local)
        return _run_on(options, local, endpoint, failure_queue_url, say)


def local_stack(endpoint_url: str | None, shards: int) -> LocalStack:
    """Default names on a fresh embedded endpoint; on a shared external one (LocalStack) a
    per-run suffix, so that reconciliation never counts an earlier run's rows."""
    lake = LakeSettings.from_env()
    if not endpoint_url:
        return LocalStack(lake=lake, shards=shards)
    suffix = f"-{secrets.token_hex(4)}"
    lake = replace(
        lake,
        bucket=lake.bucket + suffix,
        dead_letter_bucket=lake.dead_letter_bucket + suffix,
        staging_table=lake.staging_table + suffix.replace("-", "_"),
    )
    return LocalStack(
        lake=lake,
        stream_name=DEFAULT_STREAM_NAME + suffix,
        shards=shards,
        failure_queue=DEFAULT_FAILURE_QUEUE + suffix,
    )


def normalize_event_source(
    local: LocalStack, mapping: MappingSettings, failure_queue_url: str
) -> KinesisEventSource:
    """The normalize function behind the local event source mapping, its failures to SQS."""
    from normalize.handler import lambda_handler  # the deployed handler, unchanged

    sqs = aws.client("sqs", local.lake.endpoint_url)

    def send_to_failure_queue(batch_info: dict[str, Any]) -> None:
        sqs.send_message(QueueUrl=failure_queue_url, MessageBody=orjson.dumps(batch_info).decode())

    kinesis = aws.client("kinesis", local.lake.endpoint_url)
    return KinesisEventSource(
        kinesis, local.stream_name, lambda_handler, on_failure=send_to_failure_queue,
        **asdict(mapping),
    )  # fmt: skip


def _run_on(
    options: RunOptions, local: LocalStack, endpoint: str, failure_queue_url: str, say: Progress
) -> RunReport:
    seconds: dict[str, float] = {}
    writer = KinesisWriter(aws.client("kinesis", endpoint), local.stream_name)
    forwarded = ForwardedFrames(writer.put_frames)
    event_source = normalize_event_source(local, options.mapping, failure_queue_url)
    started = time.perf_counter()
    with polling(event_source), tempfile.TemporaryDirectory(prefix="k2-connector-") as journal:
        streamed = _stream(options, forwarded, Path(journal), say)
    seconds["connector"] = time.perf_counter() - started

    def on_batch(_: ShardProgress) -> None:
        say("normalize", sum(s.records for s in event_source.shards.values()), writer.stats.records)

    started = time.perf_counter()
    event_source.drain(on_batch)
    say("normalize", writer.stats.records, writer.stats.records)
    seconds["normalize_after_connector"] = time.perf_counter() - started

    started = time.perf_counter()
    landed = read_staging(local.lake)
    report = RunReport(
        source=streamed.source,
        endpoint=endpoint,
        frames_read=streamed.frames_read,
        trade_frames=streamed.expected.trades.num_rows,
        non_trade_frames=len(streamed.expected.non_trades),
        rejected_in_source=len(streamed.expected.rejections),
        dead_letters=count_dead_letters(local.lake),
        failed_batches=count_messages(failure_queue_url, local.lake.endpoint_url),
        symbols=reconcile(streamed.expected.trades, landed),
        kinesis=asdict(writer.stats),
        connector=_connector_stats(streamed.connector),
        event_source={
            "invocations": sum(s.invocations for s in event_source.shards.values()),
            "retries": sum(s.retries for s in event_source.shards.values()),
            "records": sum(s.records for s in event_source.shards.values()),
        },
        latency_s=percentiles(event_source.latencies()),
        seconds=seconds,
        bars=ohlcv(landed, "1m").slice(0, options.bars).to_pylist() if options.bars else [],
    )
    seconds["reconcile"] = time.perf_counter() - started
    if local.lake.glue_catalog:
        started = time.perf_counter()
        report.lake, report.lake_symbols = commit_and_reconcile(local.lake, streamed.expected)
        seconds["lake_commit"] = time.perf_counter() - started
    return report


def commit_and_reconcile(
    lake: LakeSettings, expected: ParsedFrames
) -> tuple[dict[str, Any], list[SymbolReport]]:
    """One committer run into the Iceberg table, then the table against the source."""
    commit = TradesCommitter(lake).run()
    partitions = partition_stats(lake)
    summary = {
        "committed_rows": commit.new_rows,
        "duplicates_skipped": commit.duplicates_skipped,
        "files": sum(p.files for p in partitions),
        "partitions": len(partitions),
        "max_files_per_partition": max((p.files for p in partitions), default=0),
    }
    landed = read_trades(lake, selected=("symbol", "source_sequence"))
    return summary, reconcile(expected.trades, landed)


def _exact(symbols: list[SymbolReport]) -> bool:
    return all(s.missing == s.duplicated == s.unexpected == 0 for s in symbols)


@dataclass
class _Streamed:
    source: str
    frames_read: int
    expected: ParsedFrames  # what the lake must hold
    connector: Connector


def _stream(
    options: RunOptions, forwarded: ForwardedFrames, journal: Path, say: Progress
) -> _Streamed:
    """Run the connector on the chosen source; say what the lake must then hold: every trade
    of the source, or - for an open-ended source - every trade the connector sent."""
    if options.live:
        connector = asyncio.run(stream_live(options, forwarded.write, journal, say))
        expected = parse_frames(forwarded.frames)
        return _Streamed(_live_source(options), connector.stats.frames_in, expected, connector)
    source, frames = _source_frames(options)
    expected = parse_frames([recorded.frame for recorded in frames])
    connector, complete = asyncio.run(
        stream_through_connector(frames, expected.trades, forwarded.write, journal, say,
                                 duration_s=options.duration_s)
    )  # fmt: skip
    if not complete:  # cut short by --duration (or the timeout): expect what was sent
        source += f" (stopped after {options.duration_s or 600:g} s)"
        expected = parse_frames(forwarded.frames)
    return _Streamed(source, len(frames), expected, connector)


def polling(event_source: KinesisEventSource) -> AbstractContextManager[None]:
    """Run the mapping in a thread while the body writes to the stream, as Lambda polls a live
    stream; stop it after the body. What arrived late is left for `drain()`."""
    return in_background(event_source.poll, "event-source-mapping")


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    p50, p99, top = np.percentile(np.asarray(values), [50, 99, 100])
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "max": round(float(top), 3)}


def _connector_stats(connector: Connector) -> dict[str, int]:
    return {
        "frames_in": connector.stats.frames_in,
        "frames_forwarded": connector.stats.frames_forwarded,
        "duplicates": connector.stats.duplicates,
        "gaps": connector.stats.gaps,
        "backfilled": connector.stats.backfilled,
        "reconnects": sum(connector.stats.reconnects.values()),
    }


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
    duration_s: float | None = None,
    speed: float = 0.0,
    faults: Faults | None = None,
    connection: ConnectionSettings = LOCAL_CONNECTIONS,
) -> tuple[Connector, bool]:
    """Serve `frames` like Binance (at `speed` x the recorded pace; 0: as fast as possible)
    to a connector writing to Kinesis; return once
    every expected trade id has been forwarded and the connector's sink is drained (True),
    or when `duration_s` (or the timeout) has passed (False)."""
    last_ids = {
        row["symbol"]: row["source_id_max"]
        for row in expected_trades.filter(pc.equal(expected_trades["market"], "spot"))
        .group_by("symbol")
        .aggregate([("source_id", "max")])
        .to_pylist()
    }
    async with ReplayServer(frames, speed=speed, faults=faults) as server:
        settings = ConnectorSettings(
            symbols=tuple(sorted(last_ids)), ws_base_url=server.url,
            rest_base_url=server.rest_url, connection=connection,
            journal_dir=journal_dir, flush_interval_s=0.05,
        )  # fmt: skip
        connector = Connector(settings, write)
        running = asyncio.create_task(connector.run())
        deadline = time.monotonic() + min(timeout_s, duration_s or timeout_s)
        total = expected_trades.num_rows
        while not (complete := _caught_up(connector, last_ids, server)):
            if time.monotonic() >= deadline:
                break
            say("connector", min(connector.sink.stats.frames_out, total), total)
            await asyncio.sleep(0.2)
        say("connector", total, total)
        connector.stop()
        await running
    return connector, complete


async def stream_live(
    options: RunOptions, write: Callable[[Sequence[bytes]], None], journal_dir: Path,
    say: Progress,
) -> Connector:  # fmt: skip
    """The connector on `options.ws_url` (Binance by default) until the duration passes or
    Ctrl-C / SIGTERM; it then flushes everything it read to Kinesis."""
    settings = ConnectorSettings(
        symbols=tuple(s.upper() for s in options.symbols), ws_base_url=options.ws_url,
        rest_base_url=options.rest_url, journal_dir=journal_dir, flush_interval_s=0.2,
    )  # fmt: skip
    connector = Connector(settings, write)
    running = asyncio.create_task(connector.run())  # stops itself on SIGTERM
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, connector.stop)
    started = time.monotonic()
    total = int(options.duration_s or 0)
    while not running.done():
        elapsed = time.monotonic() - started
        if options.duration_s is not None and elapsed >= options.duration_s:
            connector.stop()
            break
        say("live", int(elapsed), total)
        await asyncio.wait({running}, timeout=1.0)
    await running
    say("live", total, total)
    return connector


class ForwardedFrames:
    """Passes frames on to Kinesis and keeps them: when the source is open-ended (live, or a
    replay cut by --duration), what the connector sent is what the lake must hold."""

    def __init__(self, write: Callable[[Sequence[bytes]], None]) -> None:
        self._write = write
        self.frames: list[bytes] = []

    def write(self, frames: Sequence[bytes]) -> None:
        self._write(frames)
        self.frames.extend(frames)


def _live_source(options: RunOptions) -> str:
    how_long = f"{options.duration_s:g} s" if options.duration_s else "until Ctrl-C"
    return f"live: {options.ws_url} ({', '.join(options.symbols)}), {how_long}"


def _caught_up(connector: Connector, last_ids: dict[str, int], server: ReplayServer) -> bool:
    seen_all = all(connector.sequencer.highest(f"{s}@trade") == i for s, i in last_ids.items())
    settled = connector.open_gap_ids == 0 and not connector.backfilling
    return server.finished.is_set() and seen_all and settled and connector.sink.drained


def count_dead_letters(lake: LakeSettings) -> int:
    s3 = aws.client("s3", lake.endpoint_url)
    total = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=lake.dead_letter_bucket, Prefix=lake.dead_letter_prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=lake.dead_letter_bucket, Key=item["Key"])["Body"].read()
            total += body.count(b"\n")
    return total


def count_messages(queue_url: str, endpoint_url: str | None) -> int:
    attributes = aws.client("sqs", endpoint_url).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())

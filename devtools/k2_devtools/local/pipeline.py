"""`k2 run`: the whole pipeline on one machine, then a reconciliation against the source.

source frames (generator or recordings) -> Binance-compatible replay server -> the connector
over a real websocket -> Kinesis (KPL-aggregated PutRecords) -> local event source mapping,
polling while the connector writes -> normalize handler, in-process -> Parquet in S3 + Glue
partitions -> read back -> per-symbol expected / landed / missing / duplicated, dead letters by
reason, gaps by cause, on-failure (SQS) records, latency, OHLCV bars.

It ends in bounded time on any input: the connector stage is complete once every distinct
trade id of the source was forwarded or recorded as a gap, and stops early after
`idle_timeout_s` without progress; SIGTERM or Ctrl-C at any stage stops within seconds, and
the summary says what landed by then and where the run was stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from k2.adapters import aws
from k2.adapters.iceberg import TradesCommitter, completeness_ledger, partition_stats
from k2.adapters.kinesis.writer import KinesisWriter, puts_serialized_for
from k2.adapters.staging.reader import read_staging, staging_row_schema
from k2.binance.frames import ParsedFrames, parse_frames
from k2.binance.generator import generate_frames, whole_market_frames
from k2.binance.recording import RecordedFrame, read_recordings
from k2.config import (
    DEFAULT_FAILURE_QUEUE,
    DEFAULT_STREAM_NAME,
    LakeSettings,
    MappingSettings,
)
from k2.domain import schema
from k2.domain.bars import ohlcv
from k2.domain.instrument import DEFAULT_MARKET, MARKETS
from k2.domain.lake.reconcile import SymbolReport, reconcile, reconcile_ledger
from k2_connector.app import Connector, ConnectorSettings
from k2_connector.streams import connection_urls, stream_names
from k2_connector.websocket import ConnectionSettings
from k2_devtools.local.background import in_background
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.event_source import KinesisEventSource, ShardProgress
from k2_devtools.local.options import SOURCE_STAGE, RunOptions
from k2_devtools.local.resources import LocalStack, create_resources
from k2_devtools.local.sources import merge_parsed, parse_market, recordings_by_market
from k2_devtools.replay_process import ReplayProcess, ReplaySource
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
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    # Trade ids in gaps the connector saw, by outcome: filled over REST, absent from the source
    # (nobody can deliver them), or in the source but not delivered by REST.
    gaps: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None  # why the run ended before the source did (signal, no progress)
    # S3 objects the normalize function wrote: staging files and dead-letter files
    objects: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return sum(symbol.missing for symbol in self.symbols)

    @property
    def ok(self) -> bool:
        accounted = self.dead_letters + self.connector.get("dead_letters", 0)
        delivered = self.failed_batches == 0 and accounted == self.rejected_in_source
        exact = _exact(self.symbols) and _exact(self.lake_symbols or [])
        return delivered and exact and self.stopped is None

    def to_json(self) -> bytes:
        body = asdict(self) | {"ok": self.ok, "lost": self.lost}
        return orjson.dumps(body, default=str, option=orjson.OPT_INDENT_2)


class StreamEnd(Enum):
    """How the connector stage ended."""

    COMPLETE = "every trade id of the source forwarded or recorded as a gap"
    IDLE = "no progress"
    TIMEOUT = "time limit"
    DURATION = "--duration reached"
    INTERRUPTED = "interrupted"
    NO_TRADES = "the source holds no trade: nothing to subscribe to"


@dataclass
class Interruption:
    """A SIGTERM or Ctrl-C received during `k2 run`, and the stage it came in."""

    stage: str = "setup"
    signal_name: str | None = None
    event: threading.Event = field(default_factory=threading.Event)

    def requested(self) -> bool:
        return self.event.is_set()

    def describe(self) -> str | None:
        return f"{self.signal_name} during {self.stage}" if self.requested() else None


@contextmanager
def interruptible() -> Iterator[Interruption]:
    """SIGTERM and SIGINT set the interruption instead of killing the run (each stage checks
    it); the previous handlers come back afterwards. Outside the main thread: no handlers."""
    interruption = Interruption()
    if threading.current_thread() is not threading.main_thread():
        yield interruption
        return

    def note(signum: int, _: object) -> None:
        interruption.signal_name = signal.Signals(signum).name
        interruption.event.set()

    previous = {signum: signal.signal(signum, note) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield interruption
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(options: RunOptions, progress: Progress | None = None) -> RunReport:
    say = progress or (lambda stage, done, total: None)
    with ExitStack() as stack:
        interruption = stack.enter_context(interruptible())
        endpoint = options.endpoint_url or stack.enter_context(embedded_endpoint())
        stack.enter_context(endpoint_environment(endpoint))
        stack.enter_context(scoped_environment(LOCAL_HANDLER_ENV))
        local = local_stack(options.endpoint_url, options.shards)
        stack.enter_context(scoped_environment(local.lake.as_env()))
        failure_queue_url = create_resources(local)
        return _run_on(options, local, endpoint, failure_queue_url, say, interruption)


def local_stack(endpoint_url: str | None, shards: int) -> LocalStack:
    """Default names on a fresh embedded endpoint; on a shared external one (LocalStack) a
    per-run suffix on every resource - stream, buckets, queue and the Glue database that holds
    the staging and Iceberg tables - so that a run never counts, or commits into, another's."""
    lake = LakeSettings.from_env()
    if not endpoint_url:
        return LocalStack(lake=lake, shards=shards)
    suffix = f"-{secrets.token_hex(4)}"
    lake = replace(
        lake,
        bucket=lake.bucket + suffix,
        dead_letter_bucket=lake.dead_letter_bucket + suffix,
        glue_database=lake.glue_database + suffix.replace("-", "_"),
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
    options: RunOptions, local: LocalStack, endpoint: str, failure_queue_url: str, say: Progress,
    interruption: Interruption,
) -> RunReport:  # fmt: skip
    seconds: dict[str, float] = {}
    kinesis = aws.client("kinesis", endpoint)
    guard = puts_serialized_for(endpoint)  # one writer per market, one emulated stream
    writers = {m: KinesisWriter(kinesis, local.stream_name, market=m, put_guard=guard)
               for m in MARKETS}  # fmt: skip
    forwarded = {market: ForwardedFrames(writer.put_frames) for market, writer in writers.items()}
    event_source = normalize_event_source(local, options.mapping, failure_queue_url)
    started = time.perf_counter()
    say(SOURCE_STAGE, 0, 1)  # generating or reading the source takes seconds: say so first
    source = None if options.live else _prepare_source(options)
    with _exchange(source) as servers:
        say(SOURCE_STAGE, 1, 1)
        seconds[SOURCE_STAGE] = time.perf_counter() - started
        started = time.perf_counter()
        interruption.stage = "connector"
        with polling(event_source), tempfile.TemporaryDirectory(prefix="k2-connector-") as journal:
            streamed = _stream(options, source, servers, forwarded, Path(journal), say,
                               interruption)  # fmt: skip
        seconds["connector"] = time.perf_counter() - started
    records = sum(writer.stats.records for writer in writers.values())

    def on_batch(_: ShardProgress) -> None:
        say("normalize", sum(s.records for s in event_source.shards.values()), records)

    started = time.perf_counter()
    if not interruption.requested():
        interruption.stage = "normalize"
        event_source.drain(on_batch, stop=interruption.event)
        say("normalize", records, records)
    seconds["normalize_after_connector"] = time.perf_counter() - started

    started = time.perf_counter()
    landed = _staged_rows(local.lake)
    by_reason = dead_letters_by_reason(local.lake)
    report = RunReport(
        source=streamed.source,
        endpoint=endpoint,
        frames_read=streamed.frames_read,
        trade_frames=streamed.expected.trades.num_rows,
        non_trade_frames=len(streamed.expected.non_trades),
        rejected_in_source=len(streamed.expected.rejections),
        dead_letters=sum(by_reason.values()),
        failed_batches=count_messages(failure_queue_url, local.lake.endpoint_url),
        symbols=reconcile(streamed.expected.trades, landed),
        kinesis=_kinesis_stats(writers.values()),
        connector=_connector_stats(streamed.connectors),
        event_source={
            "invocations": sum(s.invocations for s in event_source.shards.values()),
            "retries": sum(s.retries for s in event_source.shards.values()),
            "records": sum(s.records for s in event_source.shards.values()),
        },
        latency_s=percentiles(event_source.latencies()),
        seconds=seconds,
        bars=ohlcv(landed, "1m").slice(0, options.bars).to_pylist() if options.bars else [],
        dead_letters_by_reason=dict(sorted(by_reason.items())),
        gaps=streamed.gaps,
        stopped=streamed.stopped,
        objects={
            "staging": count_objects(local.lake.bucket, local.lake.staging_prefix, endpoint),
            "dead_letters": count_objects(
                local.lake.dead_letter_bucket, local.lake.dead_letter_prefix, endpoint
            ),
        },
    )
    seconds["reconcile"] = time.perf_counter() - started
    if local.lake.glue_catalog and not interruption.requested():
        interruption.stage = "commit"
        started = time.perf_counter()
        report.lake, report.lake_symbols = commit_and_reconcile(local.lake, streamed.expected)
        seconds["lake_commit"] = time.perf_counter() - started
    report.stopped = interruption.describe() or report.stopped
    return report


def _staged_rows(lake: LakeSettings) -> pa.Table:
    """Every staging row; none when nothing landed (no staging prefix exists yet)."""
    try:
        return read_staging(lake)
    except FileNotFoundError:
        return staging_row_schema().empty_table().select([*schema.field_names(), "trade_date"])


def commit_and_reconcile(
    lake: LakeSettings, expected: ParsedFrames
) -> tuple[dict[str, Any], list[SymbolReport]]:
    """The committer until staging is empty, then the table against the source, by its
    completeness ledger (id ranges per instrument and day), not by reading the rows back."""
    commit = TradesCommitter(lake).drain()
    partitions = partition_stats(lake)
    summary = {
        "committed_rows": commit.new_rows,
        "duplicates_skipped": commit.duplicates_skipped,
        "commit_runs": commit.runs,
        "files": sum(p.files for p in partitions),
        "partitions": len(partitions),
        "max_files_per_partition": max((p.files for p in partitions), default=0),
    }
    return summary, reconcile_ledger(expected.trades, completeness_ledger(lake))


def _exact(symbols: list[SymbolReport]) -> bool:
    return all(s.missing == s.duplicated == s.unexpected == 0 for s in symbols)


@dataclass
class _Streamed:
    source: str
    frames_read: int
    expected: ParsedFrames  # what the lake must hold
    connectors: list[Connector]  # one per market
    gaps: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None


@dataclass(frozen=True)
class _MarketSource:
    """One market's frames of a source, and their trades as that market's connector reads
    them."""

    frames: list[RecordedFrame]
    expected: ParsedFrames


@dataclass(frozen=True)
class _Source:
    """A replayed or generated source, read and parsed before the clock starts, per market."""

    description: str
    markets: dict[str, _MarketSource]

    @property
    def frames_read(self) -> int:
        return sum(len(market.frames) for market in self.markets.values())

    @property
    def expected(self) -> ParsedFrames:
        return merge_parsed([market.expected for market in self.markets.values()])


def _prepare_source(options: RunOptions) -> _Source:
    description, frames_by_market = _source_frames(options)
    parts = {
        market: _MarketSource(frames, parse_market(frames, market))
        for market, frames in frames_by_market.items()
    }
    return _Source(description, parts)


@contextlib.contextmanager
def _exchange(source: _Source | None) -> Iterator[dict[str, ReplaySource]]:
    """Per market of a source with trades, its replay server in a process of its own (the
    exchange is other machines: k2_devtools.replay_process). None is started for a live run,
    a market without trades, or frames a recording file cannot carry (the connector stage
    then serves them in its own event loop)."""
    servers: dict[str, ReplaySource] = {}
    with contextlib.ExitStack() as stack:
        for market, part in (source.markets if source else {}).items():
            if part.expected.trades.num_rows == 0:
                continue
            try:
                process = ReplayProcess(part.frames, market=market, trades=part.expected.trades)
            except ValueError:
                continue
            servers[market] = stack.enter_context(process)
        yield servers


def _stream(
    options: RunOptions, prepared: _Source | None, servers: dict[str, ReplaySource],
    forwarded: dict[str, ForwardedFrames], journal: Path, say: Progress,
    interruption: Interruption,
) -> _Streamed:  # fmt: skip
    """Run a connector per market of the prepared source (None: live, spot) side by side;
    say what the lake must then hold: every trade of the source, or - for an open-ended
    source - every trade the connectors sent."""
    if prepared is None:
        spot = forwarded[DEFAULT_MARKET]
        connector = asyncio.run(stream_live(options, spot.write, journal, say, interruption))
        expected = parse_frames(spot.frames)
        gaps = gap_outcomes(journal, None)
        return _Streamed(_live_source(options), connector.stats.frames_in, expected, [connector],
                         gaps)  # fmt: skip
    source, expected = prepared.description, prepared.expected
    markets = {m: part for m, part in prepared.markets.items() if part.expected.trades.num_rows}
    if not markets:
        idle = Connector(ConnectorSettings(journal_dir=journal), forwarded[DEFAULT_MARKET].write)
        return _Streamed(source, prepared.frames_read, expected, [idle], {},
                         StreamEnd.NO_TRADES.value)  # fmt: skip

    async def every_market() -> list[tuple[Connector, StreamEnd]]:
        return await asyncio.gather(*(
            stream_through_connector(
                part.frames, part.expected.trades, forwarded[market].write, journal / market,
                say, duration_s=options.duration_s, interruption=interruption,
                every_symbol=options.preset == "whole-market", server=servers.get(market),
                market=market,
            )
            for market, part in markets.items()
        ))  # fmt: skip

    results = asyncio.run(every_market())
    gap_ids: Counter[str] = Counter()
    for market, part in markets.items():
        source_ids = source_trade_ids(part.expected.trades, market)
        gap_ids.update(gap_outcomes(journal / market, source_ids))
    ends = [end for _, end in results]
    end = next((e for e in ends if e is not StreamEnd.COMPLETE), StreamEnd.COMPLETE)
    stopped = None if end in (StreamEnd.COMPLETE, StreamEnd.DURATION) else end.value
    if end is not StreamEnd.COMPLETE:  # cut short: expect what was sent
        source += f" (connector stopped: {end.value})"
        sent = [[RecordedFrame(0, frame) for frame in forwarded[m].frames] for m in markets]
        expected = merge_parsed(
            [parse_market(frames, m) for frames, m in zip(sent, markets, strict=True)]
        )
    connectors = [connector for connector, _ in results]
    gaps = dict(sorted(gap_ids.items()))
    return _Streamed(source, prepared.frames_read, expected, connectors, gaps, stopped)


def source_trade_ids(trades: pa.Table, market: str = DEFAULT_MARKET) -> dict[str, set[int]]:
    """symbol -> the distinct trade ids of `market` in a parsed source."""
    rows = trades.filter(pc.equal(trades["market"], market))
    ids: dict[str, set[int]] = {}
    for symbol, trade_id in zip(rows["symbol"].to_pylist(), rows["source_id"].to_pylist(),
                                strict=True):  # fmt: skip
        ids.setdefault(symbol, set()).add(trade_id)
    return ids


def gap_outcomes(journal: Path, source_ids: dict[str, set[int]] | None) -> dict[str, int]:
    """Trade ids of the gaps the connector recorded (gaps.jsonl), by their last status: filled
    over REST; otherwise absent from the source, or in it but not delivered by REST (with no
    source to compare, as live, every id not filled counts as the latter). An `unfillable`
    gap was filled but for the `unserved` ids REST proved it will never serve."""
    log = journal / "gaps.jsonl"
    final: dict[tuple[str, int, int], dict[str, Any]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        final[entry["symbol"], entry["first_id"], entry["last_id"]] = entry
    outcomes: Counter[str] = Counter()
    for (stream, first, last), entry in final.items():
        size = last - first + 1
        not_filled = {"filled": 0, "unfillable": entry.get("unserved", size)}.get(
            entry["status"], size
        )
        if size > not_filled:
            outcomes["filled"] += size - not_filled
        if not not_filled:
            continue
        if source_ids is None:
            outcomes["unfilled_by_rest"] += not_filled
            continue
        known = source_ids.get(stream.partition("@")[0], set())
        absent = min(not_filled, sum(1 for i in range(first, last + 1) if i not in known))
        outcomes["absent_from_source"] += absent
        outcomes["unfilled_by_rest"] += not_filled - absent
    return dict(sorted(outcomes.items()))


def polling(event_source: KinesisEventSource) -> AbstractContextManager[None]:
    """Run the mapping in a thread while the body writes to the stream, as Lambda polls a live
    stream; stop it after the body. What arrived late is left for `drain()`."""
    return in_background(event_source.poll, "event-source-mapping")


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    p50, p99, top = np.percentile(np.asarray(values), [50, 99, 100])
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "max": round(float(top), 3)}


def _kinesis_stats(writers: Iterable[KinesisWriter]) -> dict[str, int]:
    """The put counts of every market's writer, summed (zeros kept)."""
    totals: dict[str, int] = {}
    for writer in writers:
        for name, value in asdict(writer.stats).items():
            totals[name] = totals.get(name, 0) + value
    return totals


def _connector_stats(connectors: Sequence[Connector]) -> dict[str, int]:
    """The counts of every market's connector, summed."""
    fields = ("frames_in", "frames_forwarded", "trades_forwarded", "duplicates",
              "unsubscribed", "dead_letters", "gaps", "backfilled")  # fmt: skip
    totals = {name: sum(getattr(c.stats, name) for c in connectors) for name in fields}
    totals["reconnects"] = sum(sum(c.stats.reconnects.values()) for c in connectors)
    return totals


def _source_frames(options: RunOptions) -> tuple[str, dict[str, list[RecordedFrame]]]:
    """The source's description and its frames per market (recordings: the market each was
    captured on, k2_devtools.local.sources; generated sessions are spot)."""
    if options.replay:
        paths = recordings_by_market(options.replay)
        described = [
            f"{path}" + ("" if market == DEFAULT_MARKET else f" ({market})")
            for market, group in paths.items() for path in group
        ]  # fmt: skip
        frames = {market: list(read_recordings(group)) for market, group in paths.items()}
        return ", ".join(described), frames
    if options.preset == "whole-market":
        market = whole_market_frames(options.preset_symbols, options.preset_seconds,
                                     seed=options.seed)  # fmt: skip
        description = (
            f"generated whole market: {options.preset_symbols:,} symbols, "
            f"{options.preset_seconds:g} s, power-law rates (seed {options.seed}); the "
            "connector streams every TRADING symbol of the replay server's exchangeInfo"
        )
        return description, {DEFAULT_MARKET: list(market)}
    generated = generate_frames(options.symbols, options.trades_per_symbol, seed=options.seed)
    description = (
        f"generated: {', '.join(options.symbols)} x {options.trades_per_symbol} trades "
        f"(seed {options.seed})"
    )
    return description, {DEFAULT_MARKET: list(generated)}


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
    idle_timeout_s: float = 30.0,
    interruption: Interruption | None = None,
    every_symbol: bool = False,
    server: ReplaySource | None = None,
    market: str = DEFAULT_MARKET,
) -> tuple[Connector, StreamEnd]:
    """Serve `frames` like Binance (at `speed` x the recorded pace; 0: as fast as possible)
    to a connector writing to Kinesis (subscribed to the recording's symbols, or with
    `every_symbol` to whatever the server's exchangeInfo lists as TRADING), until every
    distinct expected trade id is forwarded or in a settled gap and the connector's sink is
    drained (COMPLETE); or until the duration, the timeout, `idle_timeout_s` without progress
    once the source has played, or an interruption. Progress counts distinct trade ids, never
    duplicates. `expected_trades` is parse_frames of exactly `frames`. `server`: one already
    serving `frames` (in its own process); by default one starts in this event loop."""
    source_ids = source_trade_ids(expected_trades, market)
    total = sum(map(len, source_ids.values()))
    async with contextlib.AsyncExitStack() as stack:
        serving: ReplaySource = (
            server
            if server is not None
            else await stack.enter_async_context(
                ReplayServer(
                    frames, speed=speed, faults=faults, trades=expected_trades, market=market
                )
            )
        )
        symbols = tuple(sorted(source_ids))
        settings = ConnectorSettings(
            symbols=() if every_symbol else symbols, all_symbols=every_symbol,
            ws_base_url=serving.url, rest_base_url=serving.rest_url, connection=connection,
            journal_dir=journal_dir, flush_interval_s=0.05, handles_sigterm=False,
            backfill_retry_cap_s=2.0,  # the replay server answers at once, or never will
            drain_deadline_s=STOP_DRAIN_S, market=market,
        )  # fmt: skip
        connector = Connector(settings, write)
        planned = len(connector.supervisors) or len(
            connection_urls(serving.url, stream_names(symbols))  # every_symbol (spot)
        )
        serving.play_when_connected(planned)
        running = asyncio.create_task(connector.run())
        watch = _Watch(connector, serving, source_ids, timeout_s, duration_s, idle_timeout_s)
        stage = "connector" if market == DEFAULT_MARKET else f"connector {market}"
        while (end := watch.end(interruption)) is None:
            say(stage, min(connector.stats.trades_forwarded, total), total)
            await asyncio.sleep(0.2)
        say(stage, min(connector.stats.trades_forwarded, total), total)
        connector.stop()
        await running
    return connector, end


# A stopped run (Ctrl-C, SIGTERM, a timeout) gives the connector this long to put what it
# holds; the rest stays in this run's journal and the summary counts only what was sent.
# Complete runs stop with nothing held, so this never cuts one short.
STOP_DRAIN_S = 3.0


class _Watch:
    """Decides when the connector stage ends (see stream_through_connector)."""

    def __init__(
        self, connector: Connector, server: ReplaySource, source_ids: dict[str, set[int]],
        timeout_s: float, duration_s: float | None, idle_timeout_s: float,
    ) -> None:  # fmt: skip
        self._connector, self._server = connector, server
        self._last_ids = {symbol: max(ids) for symbol, ids in source_ids.items()}
        now = time.monotonic()
        self._deadline = now + min(timeout_s, duration_s or timeout_s)
        self._by_duration = duration_s is not None and duration_s < timeout_s
        self._idle_timeout_s, self._last_change = idle_timeout_s, now
        self._last_seen: tuple[int | bool, ...] = ()

    def end(self, interruption: Interruption | None) -> StreamEnd | None:
        now = time.monotonic()
        if interruption is not None and interruption.requested():
            return StreamEnd.INTERRUPTED
        if self._caught_up():
            return StreamEnd.COMPLETE
        if now >= self._deadline:
            return StreamEnd.DURATION if self._by_duration else StreamEnd.TIMEOUT
        stats = self._connector.stats
        sink = self._connector.sink
        seen = (stats.frames_in, stats.trades_forwarded, stats.backfilled, stats.duplicates,
                self._connector.backfilling, sink.drained, sink.stats.frames_out,
                sink.stats.put_failures)  # fmt: skip
        if seen != self._last_seen or not self._server.finished.is_set():
            self._last_seen, self._last_change = seen, now
        return StreamEnd.IDLE if now - self._last_change > self._idle_timeout_s else None

    def _caught_up(self) -> bool:
        """The source has played, every symbol reached its last id, no backfill is running
        (every gap is filled or recorded as unfilled) and Kinesis holds everything."""
        connector = self._connector
        seen_all = all(
            (connector.sequencer.highest(f"{symbol}@trade") or -1) >= last_id
            for symbol, last_id in self._last_ids.items()
        )
        settled = not connector.backfilling and connector.sink.drained
        return self._server.finished.is_set() and seen_all and settled


async def stream_live(
    options: RunOptions, write: Callable[[Sequence[bytes]], None], journal_dir: Path,
    say: Progress, interruption: Interruption,
) -> Connector:  # fmt: skip
    """The connector on `options.ws_url` (Binance by default) until the duration passes or
    Ctrl-C / SIGTERM; it then flushes everything it read to Kinesis."""
    settings = ConnectorSettings(
        symbols=tuple(s.upper() for s in options.symbols), ws_base_url=options.ws_url,
        rest_base_url=options.rest_url, journal_dir=journal_dir, flush_interval_s=0.2,
        handles_sigterm=False,
    )  # fmt: skip
    connector = Connector(settings, write)
    running = asyncio.create_task(connector.run())
    started = time.monotonic()
    total = int(options.duration_s or 0)
    while not running.done():
        elapsed = time.monotonic() - started
        over = options.duration_s is not None and elapsed >= options.duration_s
        if over or interruption.requested():
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


def dead_letters_by_reason(lake: LakeSettings) -> Counter[str]:
    """The normalize function's dead letters in the lake, by reject code."""
    s3 = aws.client("s3", lake.endpoint_url)
    reasons: Counter[str] = Counter()
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=lake.dead_letter_bucket, Prefix=lake.dead_letter_prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=lake.dead_letter_bucket, Key=item["Key"])["Body"].read()
            reasons.update(json.loads(line)["reason"] for line in body.splitlines() if line)
    return reasons


def count_objects(bucket: str, prefix: str, endpoint_url: str | None) -> int:
    pages = aws.client("s3", endpoint_url).get_paginator("list_objects_v2")
    return sum(page.get("KeyCount", 0) for page in pages.paginate(Bucket=bucket, Prefix=prefix))


def count_dead_letters(lake: LakeSettings) -> int:
    return sum(dead_letters_by_reason(lake).values())


def count_messages(queue_url: str, endpoint_url: str | None) -> int:
    attributes = aws.client("sqs", endpoint_url).get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())

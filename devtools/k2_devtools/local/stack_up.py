"""`k2 local up`: the stack kept running in the foreground, with the query function on
localhost like a function URL, until Ctrl-C or SIGTERM.

Frames (generated at a realistic pace, recordings, or live Binance) -> connector -> Kinesis ->
event source mapping (polling) -> normalize -> lake; GET http://127.0.0.1:PORT/ohlcv?... reads
it back through the query handler. On a signal: the connector flushes, the mapping delivers
what is in the stream, the HTTP server and the embedded endpoint stop - nothing keeps running.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from k2.adapters import aws
from k2.adapters.iceberg import CommitterBusyError, ConcurrentCommitError, TradesCommitter
from k2.adapters.kinesis.writer import KinesisWriter
from k2.binance.frames import parse_frames
from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame, read_recordings
from k2.config import LakeSettings
from k2_connector.app import Connector, ConnectorSettings
from k2_devtools.dashboard import dashboard_pages
from k2_devtools.local.background import in_background
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.event_source import KinesisEventSource
from k2_devtools.local.function_url import FunctionUrlServer
from k2_devtools.local.options import UpOptions
from k2_devtools.local.pipeline import (
    LOCAL_CONNECTIONS,
    LOCAL_HANDLER_ENV,
    local_stack,
    normalize_event_source,
    polling,
)
from k2_devtools.local.resources import create_resources
from k2_devtools.replay_server import ReplayServer

Status = Callable[[str], None]


@dataclass
class UpReport:
    frames_forwarded: int
    records_written: int
    records_delivered: int
    failed_batches_skipped: int
    committed_rows: int = 0


Ready = Callable[[str, str], None]  # (query function URL, AWS endpoint URL)


def up(options: UpOptions, on_ready: Ready, on_status: Status) -> UpReport:
    frames, symbols = _source(options)
    with ExitStack() as stack:
        endpoint = options.endpoint_url or stack.enter_context(embedded_endpoint())
        stack.enter_context(endpoint_environment(endpoint))
        # The query function runs each query in one of two worker processes: no query can
        # take this process (the connector, normalize) down with it.
        query_env = {"QUERY_ENGINE": "local", "QUERY_WORKERS": "2"}
        stack.enter_context(scoped_environment(LOCAL_HANDLER_ENV | query_env))
        local = local_stack(options.endpoint_url, options.shards)
        stack.enter_context(scoped_environment(local.lake.as_env()))
        failure_queue_url = create_resources(local)
        event_source = normalize_event_source(local, options.mapping, failure_queue_url)
        writer = KinesisWriter(aws.client("kinesis", endpoint), local.stream_name)
        from query.handler import close_engines, warm_up
        from query.handler import lambda_handler as query_handler  # the deployed handler

        stack.callback(close_engines)  # after the server below has stopped
        if not warm_up():
            on_status("query workers are still starting: the first queries may wait")
        pages = dashboard_pages(local.lake)
        server = stack.enter_context(
            FunctionUrlServer(query_handler, "query", options.port, pages=pages)
        )
        settings = ConnectorSettings(
            symbols=symbols, flush_interval_s=0.2,
            journal_dir=Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="k2-up-"))),
        )  # fmt: skip
        committer = PeriodicCommitter(local.lake, options.commit_every_s, on_status)
        with polling(event_source), committer.running():
            connector = asyncio.run(
                _stream_until_signal(
                    settings, frames, options, writer.put_frames,
                    lambda: on_ready(server.url, endpoint),
                    _unless_repeated(lambda c: _status(c, event_source), on_status), on_status,
                )
            )  # fmt: skip
        on_status("stopping: delivering what is left in the stream, then a last commit")
        event_source.drain()
        committer.commit()
        shards = event_source.shards.values()
        return UpReport(
            frames_forwarded=connector.stats.frames_forwarded,
            records_written=writer.stats.records,
            records_delivered=sum(shard.records for shard in shards),
            failed_batches_skipped=sum(shard.skipped for shard in shards),
            committed_rows=committer.committed_rows,
        )


def _source(options: UpOptions) -> tuple[list[RecordedFrame] | None, tuple[str, ...]]:
    """Frames to serve (None: live Binance) and the symbols to subscribe to."""
    if options.live:
        return None, tuple(symbol.upper() for symbol in options.symbols)
    if options.replay:
        frames = list(read_recordings(options.replay))
        trades = parse_frames([recorded.frame for recorded in frames]).trades
        return frames, tuple(sorted(set(trades["symbol"].to_pylist())))
    generated = generate_frames(options.symbols, options.trades_per_symbol, seed=7)
    return list(generated), tuple(options.symbols)


async def _stream_until_signal(
    settings: ConnectorSettings, frames: list[RecordedFrame] | None, options: UpOptions,
    write: Callable[[Sequence[bytes]], None], ready: Callable[[], None],
    status: Callable[[Connector], None], say: Status,
) -> Connector:  # fmt: skip
    """The connector until Ctrl-C or SIGTERM; a replay that is over (every frame forwarded,
    nothing held) stops the connector early - the source has nothing more to give and a
    connection to it would only be refused again - and the stack goes on serving queries."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as sources:
        server = None
        if frames is not None:
            server = await sources.enter_async_context(
                ReplayServer(frames, speed=options.speed, linger=True)
            )
            settings = replace(settings, ws_base_url=server.url, rest_base_url=server.rest_url,
                               connection=LOCAL_CONNECTIONS)  # fmt: skip
        connector = Connector(replace(settings, handles_sigterm=False), write)
        if server is not None:
            server.play_when_connected(len(connector.supervisors))
        running = asyncio.create_task(connector.run())
        stopping = asyncio.create_task(stop.wait())
        ready()
        status_due = time.monotonic() + options.status_every_s
        while not stopping.done():
            waiting = {stopping} if running.done() else {stopping, running}
            await asyncio.wait(waiting, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
            if time.monotonic() >= status_due or stopping.done():
                status(connector)
                status_due = time.monotonic() + options.status_every_s
            if server is not None and not running.done() and _replay_over(server, connector):
                connector.stop()
                await running
                say("the replay is over and every trade forwarded; serving queries until "
                    "Ctrl-C")  # fmt: skip
        connector.stop()
        await running
    return connector


def _replay_over(server: ReplayServer, connector: Connector, quiet_s: float = 0.5) -> bool:
    """Everything served, received (nothing for `quiet_s`), backfilled and put to Kinesis."""
    quiet = time.monotonic() - connector.last_frame_at > quiet_s
    return (
        server.finished.is_set() and quiet and connector.sink.drained and not connector.backfilling
    )


def _unless_repeated(
    describe: Callable[[Connector], str], say: Status
) -> Callable[[Connector], None]:
    """Say the connector's status when it has changed since it was last said."""
    said = [""]

    def status(connector: Connector) -> None:
        if (line := describe(connector)) != said[0]:
            said[0] = line
            say(line)

    return status


def _status(connector: Connector, event_source: KinesisEventSource) -> str:
    delivered = sum(shard.records for shard in event_source.shards.values())
    return (
        f"{connector.stats.frames_forwarded:,} trades forwarded, {delivered:,} Kinesis records "
        f"delivered to normalize, {connector.stats.gaps:,} gaps"
    )


class PeriodicCommitter:
    """The Iceberg committer on a timer in a background thread, as the schedule runs it in
    AWS; a run that finds the lease taken just waits for the next tick."""

    def __init__(self, lake: LakeSettings, every_s: float, on_status: Status) -> None:
        self._lake, self._every_s, self._say = lake, every_s, on_status
        self.committed_rows = 0

    def commit(self) -> None:
        if not self._lake.glue_catalog:
            return
        try:
            report = TradesCommitter(self._lake).drain()
        except (CommitterBusyError, ConcurrentCommitError) as error:
            self._say(f"commit deferred: {error}")
            return
        self.committed_rows += report.new_rows
        if report.staging_files:
            self._say(f"committed {report.new_rows:,} rows from {report.staging_files:,} "
                      f"staging files to the Iceberg table")  # fmt: skip

    def running(self) -> AbstractContextManager[None]:
        return in_background(self._every_tick, "committer")

    def _every_tick(self, stop: threading.Event) -> None:
        while not stop.wait(self._every_s):
            self.commit()

"""`k2 soak`: the local pipeline under steady load for a long time, watched for leaks and loss.

A recorded (or generated) session is replayed in cycles, each with fresh trade ids, through
the replay server, a connector, Kinesis, the normalize function behind the event source
mapping and the periodic Iceberg committer. Every few seconds it samples this process's RSS
and CPU, the Kinesis backlog (records put, not yet processed) and the end-to-end latency;
at the end the committed table is reconciled with every id of every cycle, and a JSON report
plus an HTML chart are written. The AWS endpoint runs as a separate moto process, so the
memory measured is the pipeline's own, not the emulated S3's growing contents.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

from k2.adapters import aws
from k2.adapters.iceberg import TradesCommitter, read_trades
from k2.adapters.kinesis.writer import KinesisWriter
from k2.binance.frames import parse_frames
from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame, read_recordings
from k2.domain import soak
from k2.domain.lake.reconcile import SymbolReport
from k2_devtools.chart import line_charts_html
from k2_devtools.local.background import in_background
from k2_devtools.local.endpoint import endpoint_environment, free_port
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.event_source import KinesisEventSource
from k2_devtools.local.options import LOCAL_MAPPING
from k2_devtools.local.pipeline import (
    LOCAL_HANDLER_ENV,
    StreamEnd,
    local_stack,
    normalize_event_source,
    percentiles,
    polling,
    stream_through_connector,
)
from k2_devtools.local.resources import create_resources
from k2_devtools.local.stack_up import PeriodicCommitter, Status


@dataclass(frozen=True)
class SoakOptions:
    duration_s: float
    replay: Sequence[Path] = ()
    symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT")
    trades_per_symbol: int = 5_000
    speed: float = 2.0  # x the recorded pace
    sample_every_s: float = 5.0
    commit_every_s: float = 30.0
    out_dir: Path = Path("bench/soak")


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    cpu_percent: float
    kinesis_backlog_records: int
    latency_p99_s: float | None


@dataclass
class SoakReport:
    duration_s: float
    cycles: int
    trades_sent: int
    symbols: list[SymbolReport]
    memory_slope_mb_per_hour: float
    peak_rss_mb: float
    latency_p99_s: float | None
    samples: list[Sample] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.cycles > 0 and all(
            s.missing == s.duplicated == s.unexpected == 0 for s in self.symbols
        )


def run_soak(options: SoakOptions, say: Status) -> SoakReport:
    frames = _source(options)
    source = soak.LoopedSource.of(parse_frames([f.frame for f in frames]).trades)
    with ExitStack() as stack:
        endpoint = stack.enter_context(_moto_process())
        stack.enter_context(endpoint_environment(endpoint))
        stack.enter_context(scoped_environment(LOCAL_HANDLER_ENV))
        local = local_stack(None, shards=2)
        stack.enter_context(scoped_environment(local.lake.as_env()))
        queue_url = create_resources(local)
        writer = KinesisWriter(aws.client("kinesis", endpoint), local.stream_name)
        event_source = normalize_event_source(local, LOCAL_MAPPING, queue_url)
        committer = PeriodicCommitter(local.lake, options.commit_every_s, say)
        sampler = _Sampler(writer, event_source, options.sample_every_s, say)
        journal = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="k2-soak-")))
        with polling(event_source), committer.running(), sampler.running():
            cycles = _replay_cycles(frames, source, options, writer, journal, say)
        event_source.drain()
        TradesCommitter(local.lake).drain()
        landed = read_trades(local.lake, selected=("symbol", "source_sequence"))
        report = _report(options, source, cycles, sampler.samples, landed)
    report.files = _write(report, options.out_dir)
    return report


def _replay_cycles(
    frames: list[RecordedFrame],
    source: soak.LoopedSource,
    options: SoakOptions,
    writer: KinesisWriter,
    journal: Path,
    say: Status,
) -> int:
    """Replay whole cycles, each with fresh ids, as many as fit in the duration (at least
    one): a cycle is never cut short, so every id it holds is expected in the lake."""
    length_s = _cycle_seconds(frames, options.speed)
    cycles = max(1, int(options.duration_s // length_s)) if length_s else 1
    for cycle in range(cycles):
        offsets = source.offsets(cycle)
        shifted = [
            RecordedFrame(f.receive_ns, soak.shift_trade_ids(f.frame, offsets)) for f in frames
        ]
        expected = parse_frames([f.frame for f in shifted]).trades
        _, end = asyncio.run(
            stream_through_connector(
                shifted,
                expected,
                writer.put_frames,
                journal,
                lambda *_: None,
                timeout_s=3 * length_s + 120,
                speed=options.speed,
            )
        )
        if end is not StreamEnd.COMPLETE:
            raise TimeoutError(f"cycle {cycle + 1}: the connector stopped: {end.value}")
        say(f"cycle {cycle + 1}/{cycles} sent: {expected.num_rows:,} trades")
    return cycles


def _cycle_seconds(frames: list[RecordedFrame], speed: float) -> float:
    recorded_s = (frames[-1].receive_ns - frames[0].receive_ns) / 1e9 if frames else 0.0
    return recorded_s / speed if speed > 0 else 0.0


class _Sampler:
    """RSS, CPU, Kinesis backlog and recent latency, every `every_s` seconds."""

    def __init__(
        self, writer: KinesisWriter, event_source: KinesisEventSource, every_s: float, say: Status
    ) -> None:
        self._writer, self._event_source, self._every_s, self._say = (
            writer,
            event_source,
            every_s,
            say,
        )
        self._process = psutil.Process()
        self._started = time.monotonic()
        self.samples: list[Sample] = []

    def running(self) -> Any:
        self._process.cpu_percent()  # the first call only starts the measurement
        return in_background(self._every_tick, "soak-sampler")

    def _every_tick(self, stop: threading.Event) -> None:
        while not stop.wait(self._every_s):
            self.samples.append(self.take())

    def take(self) -> Sample:
        shards = list(self._event_source.shards.values())
        latencies = [latency for shard in shards for latency in shard.latencies_s]
        for shard in shards:  # keep only what the next sample has not seen: no growth
            shard.latencies_s.clear()
        sample = Sample(
            t_s=round(time.monotonic() - self._started, 1),
            rss_mb=round(self._process.memory_info().rss / 2**20, 1),
            cpu_percent=self._process.cpu_percent(),
            kinesis_backlog_records=self._writer.stats.records - sum(s.records for s in shards),
            latency_p99_s=percentiles(latencies).get("p99"),
        )
        self._say(
            f"t={sample.t_s:,.0f}s rss={sample.rss_mb:,.0f} MB cpu={sample.cpu_percent:.0f}% "
            f"backlog={sample.kinesis_backlog_records} p99={sample.latency_p99_s}"
        )
        return sample


def _report(
    options: SoakOptions, source: soak.LoopedSource, cycles: int, samples: list[Sample], landed: Any
) -> SoakReport:
    latencies = [s.latency_p99_s for s in samples if s.latency_p99_s is not None]
    return SoakReport(
        duration_s=options.duration_s,
        cycles=cycles,
        trades_sent=cycles * sum(source.counts.values()),
        symbols=soak.reconcile_loops(source, cycles, landed),
        memory_slope_mb_per_hour=round(
            soak.memory_slope_mb_per_hour([(s.t_s, s.rss_mb) for s in samples]), 2
        ),
        peak_rss_mb=max((s.rss_mb for s in samples), default=0.0),
        latency_p99_s=max(latencies, default=None),
        samples=samples,
    )


def _write(report: SoakReport, out_dir: Path) -> dict[str, str]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    json_path, html_path = out_dir / f"soak-{stamp}.json", out_dir / f"soak-{stamp}.html"
    json_path.write_bytes(
        orjson.dumps(asdict(report) | {"ok": report.ok}, option=orjson.OPT_INDENT_2)
    )
    series = {
        "RSS (MB)": [(s.t_s, s.rss_mb) for s in report.samples],
        "CPU (% of one core)": [(s.t_s, s.cpu_percent) for s in report.samples],
        "Kinesis backlog (records)": [
            (s.t_s, float(s.kinesis_backlog_records)) for s in report.samples
        ],
        "latency p99 (s)": [
            (s.t_s, s.latency_p99_s) for s in report.samples if s.latency_p99_s is not None
        ],
    }
    title = (
        f"k2 soak: {report.cycles} cycles, {report.trades_sent:,} trades, memory slope "
        f"{report.memory_slope_mb_per_hour:+.1f} MB/h, {'OK' if report.ok else 'FAILED'}"
    )
    html_path.write_text(line_charts_html(series, title))
    return {"json": str(json_path), "html": str(html_path)}


def _source(options: SoakOptions) -> list[RecordedFrame]:
    if options.replay:
        return list(read_recordings(options.replay))
    return list(generate_frames(options.symbols, options.trades_per_symbol))


@contextmanager
def _moto_process() -> Iterator[str]:
    """moto in its own process, so this process's RSS is the pipeline's alone."""
    port = free_port()
    server = subprocess.Popen(  # our own interpreter, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto server process did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)

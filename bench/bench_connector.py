"""Connector throughput and CPU: a replay server process -> this process's connector.

1. frames/s at max speed into a counting sink (the connector's own ceiling);
2. frames/s at max speed into Kinesis on a moto server (KPL-aggregated PutRecords);
3. CPU% of the connector at a steady 1,000 frames/s (above Binance's recorded BTCUSDT peak).
The replay server runs in its own process so its CPU is not counted against the connector.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import boto3

from bench.common import check, repeat, summarize, write
from k2.adapters.kinesis.writer import KinesisWriter
from k2.binance.generator import generate_frames
from k2_connector.app import Connector, ConnectorSettings
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
BIN = Path(sys.executable).parent


def replay_process(trades: int, speed: float, seed: int = 1) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [BIN / "k2-replay-server", "--generate", ",".join(SYMBOLS), "--trades", str(trades),
         "--seed", str(seed), "--speed", str(speed)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    return process, process.stdout.readline().split()[1]


async def stream(url: str, write: Callable[[Sequence[bytes]], None], expected: int,
                 window_s: float | None = None) -> tuple[float, float, int]:  # fmt: skip
    """Run a connector until `expected` frames arrived (or for window_s after the first one);
    returns (wall seconds, CPU seconds, frames) measured from the first frame."""
    settings = ConnectorSettings(
        symbols=tuple(SYMBOLS), ws_base_url=url, rest_base_url=None,
        journal_dir=Path(tempfile.mkdtemp()), flush_interval_s=0.05,
    )  # fmt: skip
    connector = Connector(settings, write)
    running = asyncio.create_task(connector.run())
    while connector.stats.frames_in == 0:
        await asyncio.sleep(0.001)
    wall0, cpu0, frames0 = time.perf_counter(), time.process_time(), connector.stats.frames_in
    deadline = wall0 + (window_s or 600)
    while connector.stats.frames_in < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    while not connector.sink.drained:
        await asyncio.sleep(0.01)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    frames = connector.stats.frames_in - frames0
    connector.stop()
    await running
    return wall, cpu, frames


def max_speed(trades: int, write_factory: Callable[[], Callable[[Sequence[bytes]], None]]) -> float:
    process, url = replay_process(trades, speed=0)
    try:
        wall, _, frames = asyncio.run(stream(url, write_factory(), expected=2 * trades))
    finally:
        process.terminate()
        process.wait()
    return frames / wall


def cpu_at_rate(rate: float, seconds: float) -> float:
    frames = list(generate_frames(SYMBOLS, 20_000, seed=1))
    trades = [f for f in frames if b"@trade" in f.frame]
    span_s = (frames[-1].receive_ns - frames[0].receive_ns) / 1e9
    speed = rate * span_s / len(trades)
    process, url = replay_process(20_000, speed=speed)
    try:
        wall, cpu, got = asyncio.run(stream(url, lambda batch: None, 10**9, window_s=seconds))
    finally:
        process.terminate()
        process.wait()
    print(f"    {got / wall:,.0f} frames/s delivered, {100 * cpu / wall:.1f}% of one core")
    return 100 * cpu / wall


def main() -> None:
    counted: list[int] = []

    def counting_sink() -> Callable[[Sequence[bytes]], None]:
        return lambda batch: counted.append(len(batch))

    print("connector -> counting sink, max speed (2 x 50,000 trades)")
    sink_fps = repeat(3, lambda: max_speed(50_000, counting_sink))
    print("connector -> Kinesis on moto server, max speed (2 x 20,000 trades)")
    with embedded_endpoint() as endpoint, endpoint_environment(endpoint):
        kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name="us-east-1")
        kinesis.create_stream(StreamName="bench", ShardCount=2)
        kinesis.get_waiter("stream_exists").wait(StreamName="bench")
        moto_fps = repeat(
            3, lambda: max_speed(20_000, lambda: KinesisWriter(kinesis, "bench").put_frames)
        )
    print("connector CPU at 1,000 frames/s for 10 s")
    cpu = repeat(3, lambda: cpu_at_rate(1_000, 10))
    results = {
        "frames_per_s_counting_sink": summarize(sink_fps, "higher"),
        "frames_per_s_moto_kinesis": summarize(moto_fps, "higher"),
        "cpu_percent_at_1000_fps": summarize(cpu, "lower"),
    }
    print("targets")
    sink_median = results["frames_per_s_counting_sink"]["median"]
    cpu_median = results["cpu_percent_at_1000_fps"]["median"]
    results["targets"] = {
        "counting_sink": check("frames/s into a counting sink", sink_median, 50_000, True),
        "cpu": check("CPU % of one core at 1,000 frames/s", cpu_median, 30, False),
    }
    write("connector", results)


if __name__ == "__main__":
    main()

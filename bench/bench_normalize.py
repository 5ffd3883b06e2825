"""Normalize throughput per core, against the per-message reference in the same run; the
handler's 10,000-record batch to Parquet bytes; and its peak memory.

Frames: the recorded session's trade frames when ../shared is present (else generated ones),
repeated to >= 1,000,000 and normalized 10,000 at a time, as the Lambda handler receives them.
Arrow is limited to one thread, so figures are per core.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench.common import check, repeat, summarize, write
from bench.reference_normalize import normalize_all
from k2.binance.frames import parse_frames
from k2.binance.generator import generate_frames
from k2.binance.normalize import KinesisBatch
from k2.binance.recording import read_recordings
from k2.binance.tradev2 import build_tradev2
from k2.domain.records import RecordOrigin
from k2.domain.staging import parquet_bytes, split_partitions

RECORDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance"
TARGET_FRAMES = 1_000_000
PAIRS = 5
LAMBDA_BATCH = 10_000  # the most records one Kinesis event source mapping invocation carries


def trade_frames() -> tuple[str, list[bytes]]:
    paths = sorted(RECORDINGS.glob("spot_*.gz"))
    if paths:
        source = "recorded session (" + ", ".join(p.name for p in paths) + ")"
        frames = [f.frame for f in read_recordings(paths) if b"@trade" in f.frame]
    else:
        source = "generated frames (recording absent)"
        frames = [
            f.frame for f in generate_frames(["BTCUSDT", "ETHUSDT"], 20_000) if b"@trade" in f.frame
        ]
    return source, frames


def ours(frames: list[bytes]) -> float:
    """Frames/s through parse + TradeV2, in batches of a Lambda's largest Kinesis batch."""
    started = time.perf_counter()
    for first in range(0, len(frames), LAMBDA_BATCH):
        parsed = parse_frames(frames[first : first + LAMBDA_BATCH])
        build_tradev2(parsed.trades, np.zeros(parsed.trades.num_rows, dtype=np.int64))
    return len(frames) / (time.perf_counter() - started)


def reference(frames: list[bytes]) -> float:
    started = time.perf_counter()
    normalize_all(frames)
    return len(frames) / (time.perf_counter() - started)


def batch_to_parquet_ms(frames: list[bytes]) -> float:
    """10,000 Kinesis records of one frame each -> TradeV2 -> one Parquet file per partition."""
    started = time.perf_counter()
    batch = KinesisBatch()
    for index, frame in enumerate(frames[:10_000]):
        batch.add_record(RecordOrigin("shardId-0", str(index), 1_723_161_300_000_000), frame)
    normalized = batch.normalize()
    for part in split_partitions(normalized.trades):
        parquet_bytes(part.table)
    return (time.perf_counter() - started) * 1000


def peak_rss_mb_for_batch() -> float:
    """Peak RSS of a fresh process that imports the handler's code and runs one batch.

    Read from VmHWM: ru_maxrss would carry over this (large) parent's peak through fork+exec.
    """
    code = (
        "from bench.bench_normalize import trade_frames, batch_to_parquet_ms;"
        "batch_to_parquet_ms(trade_frames()[1]);"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0];"
        "print(int(hwm.split()[1]) / 1024)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    source, base = trade_frames()
    frames = (base * (TARGET_FRAMES // len(base) + 1))[:TARGET_FRAMES]
    print(f"normalize: {len(frames):,} trade frames from the {source}, one core")
    ours(frames[:10_000])  # warm-up: first calls initialise Arrow kernels and caches
    # Interleaved pairs: each speed-up sample compares the two under the same host load (this
    # shared VM's load drifts within minutes, and blocks of one then the other skewed the ratio).
    pairs = [(ours(frames), reference(frames[:200_000])) for _ in range(PAIRS)]
    fast, slow = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
    speedup = [f / s for f, s in zip(fast, slow, strict=True)]
    ours_summary, reference_summary = summarize(fast, "higher"), summarize(slow, "higher")
    speedup_summary = summarize(speedup, "higher")
    print(f"    ours {ours_summary['median']:,.0f} msg/s, reference "
          f"{reference_summary['median']:,.0f} msg/s")  # fmt: skip
    batch_ms = repeat(5, lambda: batch_to_parquet_ms(frames))
    rss = peak_rss_mb_for_batch()
    results = {
        "frames": len(frames),
        "batch_frames": LAMBDA_BATCH,
        "source": source,
        "msgs_per_s": ours_summary["median"],
        "reference_msgs_per_s": reference_summary["median"],
        "speedup": round(speedup_summary["median"], 2),
        "samples": {
            "ours": ours_summary,
            "reference": reference_summary,
            "speedup": speedup_summary,
        },
        "batch_10k_to_parquet_ms": summarize(batch_ms, "lower"),
        "batch_10k_peak_rss_mb": round(rss, 1),
    }
    print("targets")
    results["targets"] = {
        "speedup": check("speed-up over the per-message reference", results["speedup"], 10, True),
        "batch_ms": check(
            "10,000-record batch to Parquet bytes, ms",
            results["batch_10k_to_parquet_ms"]["median"],
            50,
            False,
        ),
        "rss": check("peak RSS for a 10,000-record batch, MB", rss, 256, False),
    }
    write("normalize", results)


if __name__ == "__main__":
    main()

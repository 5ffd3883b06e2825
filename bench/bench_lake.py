"""Iceberg committer throughput: staging files -> the trades table, and the rewrite of a
crowded partition. On an embedded moto server (S3 and Glue over HTTP on loopback), so the
figures include real Parquet writes and S3 round trips, not AWS network latency.

Figures: rows/s and staging MB/s per commit, files per partition and bytes per trade after
it, and the compaction's rows/s; then, in a lake of its own, the bytes per trade of the recorded
session (real prices and vendor_data), which the synthetic rows only approximate.
"""

from __future__ import annotations

import time
import uuid

import pyarrow as pa

from bench.bench_normalize import trade_frames
from bench.common import check, write
from bench.synthetic import tradev2_rows
from k2.adapters import aws
from k2.adapters.iceberg import TradesCommitter, partition_stats
from k2.adapters.staging.store import StagingLake
from k2.binance.normalize import KinesisBatch
from k2.config import CommitterSettings, LakeSettings
from k2.domain.records import RecordOrigin
from k2.domain.staging import split_partitions
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment, reset
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.pipeline import LOCAL_HANDLER_ENV
from k2_devtools.local.resources import LocalStack, create_resources

ROWS = 2_000_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
BATCH_ROWS = 10_000  # one normalize invocation's worth per staging file
MAX_FILES_PER_PARTITION = 4
TARGET_BYTES_PER_TRADE = 20  # raw Binance frames are ~170 bytes
TARGET_ROWS_PER_S = 100_000  # a day of Binance spot trades for 4 busy symbols in < 1 min


def stage(lake: LakeSettings, rows: pa.Table) -> int:
    """Write staging files as the normalize function does, one per partition of each
    10,000-row batch; return their total bytes."""
    s3 = aws.client("s3", lake.endpoint_url)
    staging = StagingLake(s3, None, lake.bucket, lake.staging_prefix, lake.glue_database,
                          lake.staging_table)  # fmt: skip
    keys = []
    for start in range(0, rows.num_rows, BATCH_ROWS):
        batch_id = uuid.uuid4().hex
        for part in split_partitions(rows.slice(start, BATCH_ROWS)):
            keys.append(staging.write(part, batch_id))
    return sum(s3.head_object(Bucket=lake.bucket, Key=key)["ContentLength"] for key in keys)


def synthetic(rows_count: int, seed: int, first_id: int) -> pa.Table:
    return tradev2_rows(rows_count, SYMBOLS, seed=seed, first_id=first_id)


def recorded_session_rows() -> tuple[str, pa.Table]:
    """The recorded session's trades, normalized as the handler does (one Kinesis record per
    frame): real prices, quantities and vendor_data, unlike the synthetic rows."""
    source, frames = trade_frames()
    batch = KinesisBatch()
    for index, frame in enumerate(frames):
        batch.add_record(RecordOrigin("shardId-0", str(index), 1_723_161_300_000_000), frame)
    return source, batch.normalize().trades


def recorded_bytes_per_trade(settings: CommitterSettings) -> tuple[str, int, float]:
    """Bytes per trade of the recorded session once committed, in a lake of its own."""
    source, rows = recorded_session_rows()
    with (
        embedded_endpoint() as url,
        endpoint_environment(url),
        scoped_environment(LOCAL_HANDLER_ENV),
    ):
        reset(url)  # moto's state is per process: drop the synthetic lake of main()
        lake = LakeSettings.from_env()
        create_resources(LocalStack(lake))
        stage(lake, rows)
        TradesCommitter(lake, settings).run()
        partitions = partition_stats(lake, settings)
    committed = sum(p.rows for p in partitions)
    return source, committed, sum(p.bytes for p in partitions) / committed


def main() -> None:
    print(f"lake: committer over {ROWS:,} staged trades ({len(SYMBOLS)} symbols, moto server)")
    with (
        embedded_endpoint() as url,
        endpoint_environment(url),
        scoped_environment(LOCAL_HANDLER_ENV),
    ):
        lake = LakeSettings.from_env()
        create_resources(LocalStack(lake))
        settings = CommitterSettings(max_files_per_partition=MAX_FILES_PER_PARTITION)
        staged_bytes = stage(lake, synthetic(ROWS, seed=1, first_id=1_000_000_000))
        started = time.perf_counter()
        report = TradesCommitter(lake, settings).run()
        commit_s = time.perf_counter() - started
        partitions = partition_stats(lake, settings)

        for extra in range(MAX_FILES_PER_PARTITION):  # small commits until one triggers a rewrite
            stage(lake, synthetic(40_000, 100 + extra, 2_000_000_000 + extra * 1_000_000))
            started = time.perf_counter()
            compacting = TradesCommitter(lake, settings).run()
            if compacting.compacted_partitions:
                break
        compact_s = time.perf_counter() - started
        after = partition_stats(lake, settings)
    recorded_source, recorded_rows, recorded_bytes = recorded_bytes_per_trade(settings)

    total_rows = sum(p.rows for p in after)
    rows_per_s = report.new_rows / commit_s
    mb_per_s = staged_bytes / commit_s / 1e6
    print(f"  commit: {report.new_rows:,} rows from {report.staging_files:,} staging files "
          f"({staged_bytes / 1e6:,.1f} MB) in {commit_s:.1f} s: {rows_per_s:,.0f} rows/s, "
          f"{mb_per_s:,.1f} MB/s")  # fmt: skip
    print(f"  files per partition after the commit: {[p.files for p in partitions]}; "
          f"bytes per trade {sum(p.bytes for p in partitions) / report.new_rows:.1f}")  # fmt: skip
    print(f"  {recorded_source}: {recorded_rows:,} trades committed, "
          f"{recorded_bytes:.1f} bytes per trade")  # fmt: skip
    compacted_rows = sum(p.rows for p in after if p.day in compacting.compacted_partitions)
    print(f"  compaction of {compacting.compacted_partitions}: {compact_s:.1f} s for the run "
          f"({compacted_rows / compact_s:,.0f} rows/s rewritten); "
          f"files per partition after: {[p.files for p in after]}")  # fmt: skip
    results = {
        "rows": ROWS,
        "commit": {
            "rows_per_s": check("commit rows/s", rows_per_s, TARGET_ROWS_PER_S, True),
            "staging_mb_per_s": round(mb_per_s, 1),
            "seconds": round(commit_s, 2),
            "staging_files": report.staging_files,
            "staging_bytes": staged_bytes,
        },
        "files_per_partition_after_commit": {p.day: p.files for p in partitions},
        "bytes_per_trade": check(
            "lake bytes per trade after compaction",
            sum(p.bytes for p in after) / total_rows,
            TARGET_BYTES_PER_TRADE,
            higher_is_better=False,
        ),
        "recorded_session": {
            "source": recorded_source,
            "trades": recorded_rows,
            "bytes_per_trade": check(
                "lake bytes per trade, recorded session",
                recorded_bytes,
                TARGET_BYTES_PER_TRADE,
                higher_is_better=False,
            ),
        },
        "compaction": {
            "partitions": compacting.compacted_partitions,
            "run_seconds": round(compact_s, 2),
            "rows_rewritten_per_s": round(compacted_rows / compact_s),
            "files_per_partition_after": {p.day: p.files for p in after},
            "max_files_per_partition": check(
                "files per partition after compaction",
                max(p.files for p in after),
                MAX_FILES_PER_PARTITION,
                higher_is_better=False,
            ),
        },
    }
    write("lake", results)


if __name__ == "__main__":
    main()

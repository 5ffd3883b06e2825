"""The trades Iceberg table: one committer at a time, exactly-once rows through crashes and
redelivery, few files per partition, readable without our code."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any
from urllib.parse import urlparse

import boto3
import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from committer.handler import lambda_handler as committer_function
from k2.adapters.iceberg import (
    CommitterBusyError,
    ConcurrentCommitError,
    TradesCommitter,
    ensure_trades_table,
    read_trades,
    trades_catalog,
)
from k2.adapters.kinesis.writer import frame_symbol
from k2.adapters.query.duckdb_engine import LocalQueryEngine
from k2.adapters.staging.reader import s3_filesystem
from k2.binance.recording import read_recording
from k2.config import CommitterSettings
from k2.domain import kpl
from k2.domain.query.planner import plan
from k2.domain.query.spec import parse_request
from k2_devtools.cli.main import main as k2_main
from k2_devtools.local.lambda_context import LocalLambdaContext
from normalize.handler import lambda_handler as normalize
from tests.support.cli import K2
from tests.support.events import kinesis_event
from tests.support.lake_files import object_keys
from tests.support.pipeline_harness import lake_verify
from tests.support.recordings import RECORDED_TRADE_IDS

pytestmark = [pytest.mark.integration, pytest.mark.recording]


class Crash(RuntimeError):
    """The committer died after writing its data files, before committing."""


def deliver(frames: list[bytes], frames_per_record: int, first_sequence: int) -> None:
    """The session as Kinesis batches; another record size gives other batches, other staging
    files, and the same trades: what a redelivery after a retry looks like to the lake."""
    records = []
    for symbol in sorted({frame_symbol(f) for f in frames}):
        own = [f for f in frames if frame_symbol(f) == symbol]
        for start in range(0, len(own), frames_per_record):
            records.append(kpl.aggregate(own[start : start + frames_per_record], symbol))
    for start in range(0, len(records), 10):
        event = kinesis_event(records[start : start + 10], first_sequence=first_sequence + start)
        assert normalize(event, LocalLambdaContext("normalize")) == {"batchItemFailures": []}


@pytest.fixture(autouse=True)
def glue_catalog(server_lake) -> None:
    if not server_lake.glue_catalog:
        pytest.skip("the Iceberg table needs a Glue catalog; this endpoint has none")


@pytest.fixture
def session_frames(recordings) -> list[bytes]:
    return [recorded.frame for path in recordings for recorded in read_recording(path)]


def trade_ids(lake) -> dict[str, list[int]]:
    rows = read_trades(lake, selected=("symbol", "source_sequence"))
    return {
        symbol: sorted(rows.filter(pc.equal(rows["symbol"], symbol))["source_sequence"].to_pylist())
        for symbol in RECORDED_TRADE_IDS
    }


def test_a_crash_before_commit_and_a_redelivered_session_still_give_each_trade_once(
    server_lake, session_frames, recordings, capsys
):
    deliver(session_frames, frames_per_record=500, first_sequence=10**20)

    def crash() -> None:
        raise Crash

    with pytest.raises(Crash):
        TradesCommitter(server_lake, before_commit=crash).run()
    assert read_trades(server_lake).num_rows == 0  # files written, nothing committed

    first = TradesCommitter(server_lake).run()
    assert first.new_rows == 9_757 + 6_106

    deliver(session_frames, frames_per_record=300, first_sequence=10**21)  # Kinesis redelivery
    second = TradesCommitter(server_lake).run()
    assert second.staging_files > 0
    assert (second.new_rows, second.duplicates_skipped) == (0, 9_757 + 6_106)

    assert trade_ids(server_lake) == {s: list(ids) for s, ids in RECORDED_TRADE_IDS.items()}
    verify = subprocess.run(
        [*K2, "lake", "verify", "--source", *map(str, recordings)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert "OK: every trade of the source is in trades exactly once" in verify.stdout
    capsys.readouterr()
    assert k2_main(["lake", "completeness", "--json"]) == 0  # in-process: no interpreter start
    days = json.loads(capsys.readouterr().out)["instrument_days"]
    by_symbol = {
        s: sum(d["distinct_ids"] for d in days if d["symbol"] == s) for s in RECORDED_TRADE_IDS
    }
    assert by_symbol == {s: len(ids) for s, ids in RECORDED_TRADE_IDS.items()}
    assert sum(d["rows"] for d in days) == 9_757 + 6_106  # no trade twice


def test_lake_verify_fails_on_a_source_the_lake_does_not_hold(
    server_lake, session_frames, tmp_path
):
    deliver(session_frames[:1000], frames_per_record=500, first_sequence=10**20)
    TradesCommitter(server_lake).run()
    source = tmp_path / "more.txt"
    source.write_bytes(b"".join(b"1723161255000000000 " + f + b"\n" for f in session_frames[:3000]))
    report = lake_verify([source])
    assert report["exit"] == 1
    assert report["ok"] is False
    assert sum(symbol["missing"] for symbol in report["symbols"]) > 0


def test_a_second_committer_cannot_run_while_the_first_holds_the_lease(server_lake, session_frames):
    deliver(session_frames, frames_per_record=500, first_sequence=10**20)
    refused: list[Exception] = []

    def second_committer() -> None:
        with pytest.raises(CommitterBusyError) as busy:
            TradesCommitter(server_lake).run()
        refused.append(busy.value)

    TradesCommitter(server_lake, before_commit=second_committer).run()
    assert len(refused) == 1
    assert sum(map(len, trade_ids(server_lake).values())) == 9_757 + 6_106


def test_a_commit_racing_a_lease_takeover_is_rejected_and_nothing_is_doubled(
    server_lake, session_frames
):
    deliver(session_frames, frames_per_record=500, first_sequence=10**20)
    settings = CommitterSettings(lease_s=60)
    later = time.time() + 3_600  # the first lease looks expired to this one

    def takeover() -> None:
        TradesCommitter(server_lake, settings, clock=lambda: later).run()

    with pytest.raises(ConcurrentCommitError):
        TradesCommitter(server_lake, settings, before_commit=takeover).run()
    assert sum(map(len, trade_ids(server_lake).values())) == 9_757 + 6_106
    assert TradesCommitter(server_lake, settings).run().new_rows == 0


def files_per_day(table) -> dict[str, int]:
    per_day: dict[str, int] = {}
    for entry in table.inspect.files().to_pylist():
        day = entry["partition"]["trade_day"].isoformat()
        per_day[day] = per_day.get(day, 0) + 1
    return per_day


def test_a_crowded_day_is_rewritten_once_it_closes_not_at_every_commit(server_lake, session_frames):
    settings = CommitterSettings(max_files_per_partition=2)
    btc = [f for f in session_frames if frame_symbol(f) == "BTCUSDT"]
    during_the_session = 1_723_163_400  # 2024-08-09 00:30 UTC: both session days still open
    for part in range(3):  # three commits while the days still trade: a file each
        deliver(btc[part::4], frames_per_record=500, first_sequence=10**20 + part * 10**6)
        report = TradesCommitter(server_lake, settings, clock=lambda: during_the_session).run()
        assert report.compacted_partitions == []
    table = ensure_trades_table(trades_catalog(server_lake), server_lake, settings)
    assert max(files_per_day(table).values()) == 3
    deliver(btc[3::4], frames_per_record=500, first_sequence=10**20 + 3 * 10**6)
    report = TradesCommitter(server_lake, settings).run()  # now: the session's days are closed
    assert set(report.compacted_partitions) == set(files_per_day(table))
    table = ensure_trades_table(trades_catalog(server_lake), server_lake, settings)
    assert all(count <= 2 for count in files_per_day(table).values())
    assert trade_ids(server_lake)["BTCUSDT"] == list(RECORDED_TRADE_IDS["BTCUSDT"])


def table_objects(table) -> set[str]:
    """Every object under the table's location on S3, as s3:// URIs (folder markers aside)."""
    location = urlparse(table.location())
    keys = object_keys(location.netloc, location.path.strip("/") + "/")
    return {f"s3://{location.netloc}/{key}" for key in keys if not key.endswith("/")}


def test_expired_snapshots_take_the_files_only_they_held_with_them(server_lake, session_frames):
    settings = CommitterSettings(
        max_files_per_partition=2, snapshot_retention_s=600, metadata_versions_kept=3
    )
    btc = [f for f in session_frames if frame_symbol(f) == "BTCUSDT"]
    for part in range(4):  # commits and a compaction: replaced data files, many snapshots
        deliver(btc[part::4], frames_per_record=500, first_sequence=10**20 + part * 10**6)
        TradesCommitter(server_lake, settings).run()
    table = ensure_trades_table(trades_catalog(server_lake), server_lake, settings)
    live_data = {row["file_path"] for row in table.inspect.files().to_pylist()}
    before = table_objects(table)
    assert {o for o in before if "/data/" in o} > live_data  # the compaction replaced some

    report = TradesCommitter(server_lake, settings, clock=lambda: time.time() + 601).run()

    table = ensure_trades_table(trades_catalog(server_lake), server_lake, settings)
    current = table.current_snapshot()
    assert current is not None
    assert [s.snapshot_id for s in table.snapshots()] == [current.snapshot_id]
    referenced = (
        live_data
        | {current.manifest_list}
        | {manifest.manifest_path for manifest in current.manifests(table.io)}
        | {table.metadata_location}
        | {entry.metadata_file for entry in table.metadata.metadata_log}
    )
    after = table_objects(table)
    assert after == referenced  # nothing on S3 that the table does not reference
    assert len([o for o in after if o.endswith(".metadata.json")]) <= 1 + 3
    removed = {o for o in before - after if not o.endswith(".metadata.json")}
    assert report.expired_files_removed == len(removed) > 0
    assert trade_ids(server_lake)["BTCUSDT"] == list(RECORDED_TRADE_IDS["BTCUSDT"])


def test_consumed_staging_files_are_removed_after_the_retention(server_lake, session_frames):
    deliver(session_frames, frames_per_record=500, first_sequence=10**20)
    settings = CommitterSettings(staging_retention_s=600)
    first = TradesCommitter(server_lake, settings).run()
    later = time.time() + 601
    cleanup = TradesCommitter(server_lake, settings, clock=lambda: later).run()
    assert cleanup.staging_files_removed == first.staging_files
    assert trade_ids(server_lake) == {s: list(ids) for s, ids in RECORDED_TRADE_IDS.items()}


def test_the_table_is_readable_by_pyarrow_and_duckdb_from_its_metadata(server_lake, session_frames):
    deliver(session_frames, frames_per_record=500, first_sequence=10**20)
    TradesCommitter(server_lake).run()
    table = ensure_trades_table(trades_catalog(server_lake), server_lake, CommitterSettings())
    paths = [task.file.file_path.removeprefix("s3://") for task in table.scan().plan_files()]
    data = ds.dataset(paths, filesystem=s3_filesystem(server_lake.endpoint_url), format="parquet")
    rows = data.to_table()
    assert rows.num_rows == 9_757 + 6_106
    assert str(rows.schema.field("price").type) == "decimal128(18, 8)"
    assert str(rows.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"

    connection = duckdb.connect()
    connection.register("data", data)
    (first_trade,) = connection.execute(
        'SELECT price, quantity, epoch_ms("timestamp") AS ms FROM data '
        "WHERE symbol = 'BTCUSDT' ORDER BY source_sequence LIMIT 1"
    ).fetchall()
    assert (str(first_trade[0]), str(first_trade[1]), first_trade[2]) == (
        "61837.63000000",
        "0.02000000",
        1723161255342,
    )  # the recording's first BTCUSDT trade, exactly


def test_queries_see_each_trade_once_across_the_table_and_staging(server_lake, session_frames):
    btc = [f for f in session_frames if frame_symbol(f) == "BTCUSDT"]
    deliver(btc[: len(btc) // 2], frames_per_record=500, first_sequence=10**20)
    settings = CommitterSettings(staging_retention_s=600)
    TradesCommitter(server_lake, settings).run()  # first half committed, staging still there
    deliver(btc, frames_per_record=400, first_sequence=10**21)  # everything, again, in staging
    engine = LocalQueryEngine(server_lake)
    symbols = plan(parse_request("symbols", {}))
    (row,) = engine.execute(symbols, timeout_s=30).to_pylist()
    assert row["trades"] == 9_757

    TradesCommitter(server_lake, settings, clock=lambda: time.time() + 601).run()
    TradesCommitter(server_lake, settings, clock=lambda: time.time() + 1_202).run()
    staging = boto3.client("s3").list_objects_v2(
        Bucket=server_lake.bucket, Prefix=server_lake.staging_prefix
    )
    assert staging["KeyCount"] == 0
    (row,) = engine.execute(symbols, timeout_s=30).to_pylist()  # all from trades now
    assert row["trades"] == 9_757
    window = {"start": "2024-08-08T23:00:00Z", "end": "2024-08-09T01:00:00Z"}
    bars = plan(parse_request("ohlcv", {"symbols": "BTCUSDT,ETHUSDT", **window}))
    assert sum(bar["trades"] for bar in engine.execute(bars, timeout_s=30).to_pylist()) == 9_757


def test_the_scheduled_committer_function_commits_and_reports(server_lake, session_frames):
    deliver(session_frames, frames_per_record=500, first_sequence=10**20)
    context: Any = LocalLambdaContext("committer")
    result = committer_function({"source": "aws.events"}, context)
    assert (result["new_rows"], result["duplicates_skipped"]) == (9_757 + 6_106, 0)
    again = committer_function({"source": "aws.events"}, context)
    assert again["staging_files"] == 0


def test_a_backlog_larger_than_one_run_is_drained_in_bounded_runs(server_lake, session_frames):
    btc = [f for f in session_frames if frame_symbol(f) == "BTCUSDT"][:2_000]
    deliver(btc, frames_per_record=100, first_sequence=10**20)  # 2 batches: 2 staging files
    deliver(btc, frames_per_record=150, first_sequence=10**21)  # the same trades, redelivered
    settings = CommitterSettings(max_staging_files=1)
    waiting = TradesCommitter(server_lake, settings).run()
    assert waiting.staging_files == 1
    assert waiting.staging_files_waiting > 0
    drained = TradesCommitter(server_lake, settings).drain()
    assert drained.runs == waiting.staging_files_waiting
    assert drained.staging_files_waiting == 0
    landed = sorted(read_trades(server_lake, selected=("source_sequence",))["source_sequence"]
                    .to_pylist())  # fmt: skip
    assert landed == sorted({json.loads(f)["data"]["t"] for f in btc if b"@trade" in f})

"""The normalize Lambda handler on in-process moto: what lands, what is dead-lettered, retries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import pytest

from k2.adapters import aws
from k2.domain import kpl, schema
from k2_devtools.local.lambda_context import LocalLambdaContext
from normalize.handler import lambda_handler
from tests.support.events import kinesis_event
from tests.support.frames import frame
from tests.support.lake_files import dead_letters, landed_ids, objects

pytestmark = pytest.mark.unit


def trade(symbol: str, trade_id: int, day_ms: int = 1723161255342) -> bytes:
    return frame(
        "spot_trade", s=symbol, t=trade_id, E=day_ms + 1, T=day_ms, p="100.50000000",
        q="1.00000000", m=False,
    )  # fmt: skip


def invoke(event):
    return lambda_handler(event, LocalLambdaContext("normalize"))


def test_a_batch_lands_as_one_parquet_file_per_day_whatever_its_symbols(in_process_lake):
    symbols = [f"S{i:04d}USDT" for i in range(300)]
    payload = kpl.aggregate_keyed((f"spot:{s}", trade(s, i)) for i, s in enumerate(symbols))
    day_before = trade("ETHUSDT", 7, day_ms=1723161255342 - 86_300_000)  # delivered late
    response = invoke(kinesis_event([payload, day_before]))
    assert response == {"batchItemFailures": []}
    files = objects(in_process_lake.bucket, in_process_lake.staging_prefix)
    assert sorted(key.rsplit("/", 1)[0] for key in files) == [
        "staging/trades/trade_date=2024-08-07",
        "staging/trades/trade_date=2024-08-08",
    ]
    assert landed_ids(in_process_lake) == sorted([*range(300), 7])
    glue = boto3.client("glue", region_name="us-east-1")
    partitions = glue.get_partitions(DatabaseName="k2", TableName="trades_staging")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["2024-08-07"], ["2024-08-08"]]


def test_the_first_write_of_a_new_deployment_creates_the_glue_table(in_process_lake):
    glue = boto3.client("glue", region_name="us-east-1")
    glue.delete_table(DatabaseName="k2", Name="trades_staging")
    glue.delete_database(Name="k2")
    assert invoke(kinesis_event([trade("BTCUSDT", 1)])) == {"batchItemFailures": []}
    table = glue.get_table(DatabaseName="k2", Name="trades_staging")["Table"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns == schema.glue_columns()
    assert (
        len(glue.get_partitions(DatabaseName="k2", TableName="trades_staging")["Partitions"]) == 1
    )


def test_poison_frames_go_to_the_dead_letter_prefix_and_good_ones_still_land(in_process_lake):
    poison = [b"{not json", b"\xff\xfe", trade("BTCUSDT", 3).replace(b'"p":"100.5', b'"p":"-1.0')]
    payload = kpl.aggregate([trade("BTCUSDT", 1), *poison, trade("BTCUSDT", 2)], "BTCUSDT")
    corrupt_record = kpl.KPL_MAGIC + b"\x1a\x02ab" + b"0" * 16
    response = invoke(kinesis_event([payload, corrupt_record]))
    assert response == {"batchItemFailures": []}  # poison must not block the shard
    assert landed_ids(in_process_lake) == [1, 2]
    letters = dead_letters(in_process_lake)
    by_reason = {letter["reason"]: letter for letter in letters}
    assert sorted(by_reason) == ["bad_decimal", "corrupt_aggregate", "invalid_json", "not_utf8"]
    assert by_reason["bad_decimal"]["detail"] == (
        "price '-1.00000000' is not a non-negative decimal that fits decimal(18,8)"
    )
    assert by_reason["invalid_json"]["raw_text"] == "{not json"
    assert by_reason["invalid_json"]["frame_index"] == 1
    assert by_reason["invalid_json"]["shard_id"] == "shardId-000000000000"
    assert by_reason["corrupt_aggregate"]["frame_index"] is None
    assert by_reason["not_utf8"]["detail"] == "not valid UTF-8 at byte 0"
    assert by_reason["not_utf8"]["raw_base64"] == "//4="


def test_delivering_the_same_batch_twice_changes_nothing(in_process_lake):
    event = kinesis_event([b"\n".join([trade("BTCUSDT", i) for i in range(50)]), b"garbage"])
    invoke(event)
    first = objects(in_process_lake.bucket, "")
    invoke(event)
    assert objects(in_process_lake.bucket, "") == first
    assert landed_ids(in_process_lake) == list(range(50))
    assert len(dead_letters(in_process_lake)) == 1


def test_a_trade_repeated_within_a_batch_lands_once(in_process_lake):
    invoke(kinesis_event([trade("BTCUSDT", 5), trade("BTCUSDT", 5), trade("BTCUSDT", 6)]))
    assert landed_ids(in_process_lake) == [5, 6]


@contextmanager
def failing_puts(key_fragment: str) -> Iterator[list[str]]:
    """Make S3 PutObject fail for keys containing `key_fragment` (like an S3 5xx)."""
    failed: list[str] = []

    def fail(params, **_):
        if key_fragment in params["Key"]:
            failed.append(params["Key"])
            raise ConnectionError(f"injected S3 failure for {params['Key']}")

    s3 = aws.client("s3")
    s3.meta.events.register("before-parameter-build.s3.PutObject", fail)
    try:
        yield failed
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", fail)


def test_records_whose_day_file_failed_to_write_are_reported_for_retry(in_process_lake):
    btc = b"\n".join([trade("BTCUSDT", 1), trade("BTCUSDT", 2)])
    eth = trade("ETHUSDT", 9, day_ms=1723161255342 - 86_300_000)
    event = kinesis_event([btc, eth, trade("BTCUSDT", 3)])
    with failing_puts("trade_date=2024-08-07") as failed:
        response = invoke(event)
    assert failed
    eth_sequence = event["Records"][1]["kinesis"]["sequenceNumber"]
    assert response == {"batchItemFailures": [{"itemIdentifier": eth_sequence}]}
    assert landed_ids(in_process_lake) == [1, 2, 3]
    assert invoke(event) == {"batchItemFailures": []}  # the retry lands the rest
    assert landed_ids(in_process_lake) == [1, 2, 3, 9]


def test_a_failed_dead_letter_write_fails_the_poisoned_records(in_process_lake):
    event = kinesis_event([trade("BTCUSDT", 1), b"{bad"])
    with failing_puts("dead-letter/"):
        response = invoke(event)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][1]["kinesis"]["sequenceNumber"]}]
    }


def test_a_warm_environment_with_metrics_off_writes_nothing_to_stdout(
    in_process_lake, monkeypatch, capsys
):
    """The local pipeline turns metrics off so that stdout carries only its results (JSON)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for invocation in range(101):  # Powertools flushes by itself at a metric's 100th value
        event = kinesis_event([trade("BTCUSDT", invocation)], first_sequence=10**20 + invocation)
        assert invoke(event) == {"batchItemFailures": []}
    assert capsys.readouterr().out == ""
    assert landed_ids(in_process_lake) == list(range(101))

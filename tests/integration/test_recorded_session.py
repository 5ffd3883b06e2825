"""The recorded Binance session through the normalize handler on a moto server over HTTP."""

from __future__ import annotations

import json

import awswrangler as wr
import boto3
import pyarrow.compute as pc
import pytest

from k2.adapters.staging.reader import read_staging
from k2.binance.recording import read_recording
from k2.domain import kpl
from k2_devtools.local.lambda_context import LocalLambdaContext
from normalize.handler import lambda_handler
from tests.support.events import kinesis_batches, kinesis_event
from tests.support.frames import frame
from tests.support.recordings import RECORDED_TRADE_IDS

pytestmark = [pytest.mark.integration, pytest.mark.recording]
FRAMES_PER_RECORD = 500
RECORDS_PER_BATCH = 10


def source_prices(frames: list[bytes]) -> dict[int, tuple[str, str]]:
    prices = {}
    for raw in frames:
        data = json.loads(raw).get("data", {})
        if data.get("e") == "trade":
            prices[data["t"]] = (data["p"], data["q"])
    return prices


def test_every_recorded_trade_lands_exactly_once_with_exact_decimals(recordings, server_lake):
    frames = [recorded.frame for path in recordings for recorded in read_recording(path)]
    events = kinesis_batches(frames)
    for event in events * 2:  # every batch delivered twice, as after a retry
        response = lambda_handler(event, LocalLambdaContext("normalize"))
        assert response == {"batchItemFailures": []}

    lake = read_staging(server_lake)
    for symbol, expected_ids in RECORDED_TRADE_IDS.items():
        ids = lake.filter(pc.equal(lake["symbol"], symbol))["source_sequence"].to_pylist()
        assert sorted(ids) == list(expected_ids), symbol  # contiguous, no gaps, no duplicates
    assert lake.num_rows == 9_757 + 6_106

    prices = source_prices(frames)
    for trade_id, price, quantity in zip(
        lake["source_sequence"].to_pylist(), lake["price"].to_pylist(),
        lake["quantity"].to_pylist(), strict=True,
    ):  # fmt: skip
        assert (str(price), str(quantity)) == prices[trade_id]

    s3 = boto3.client("s3")
    dead = s3.list_objects_v2(Bucket=server_lake.bucket, Prefix=server_lake.dead_letter_prefix)
    assert dead.get("KeyCount", 0) == 0  # the REST snapshot is a non-trade, not a dead letter


def test_the_lake_is_readable_by_awswrangler_and_registered_in_glue(server_lake):
    frames = [frame("spot_trade", t=i) for i in range(1, 101)]
    lambda_handler(kinesis_event([kpl.aggregate(frames, "BTCUSDT")]), LocalLambdaContext("n"))

    staged = wr.s3.read_parquet(server_lake.staging_location, dataset=True)
    assert len(staged) == 100
    assert set(staged["symbol"].astype(str)) == {"BTCUSDT"}
    assert str(staged["price"].iloc[0]) == "61837.63000000"
    if not server_lake.glue_catalog:
        pytest.skip("this endpoint has no Glue API (GLUE_CATALOG=off); the files were checked")
    columns = wr.catalog.get_table_types(database="k2", table="trades_staging")
    assert columns is not None
    assert columns["price"] == "decimal(18,8)"
    assert columns["trade_date"] == "string"
    partitions = wr.catalog.get_parquet_partitions(database="k2", table="trades_staging")
    assert list(partitions.values()) == [["2024-08-08"]]

"""Gap records land locally and in S3, rewritten as their status changes."""

from __future__ import annotations

import asyncio
import json

import boto3
import pytest
from moto import mock_aws

from k2_connector.gap_log import GapLog
from k2_connector.sequencer import Gap

pytestmark = pytest.mark.unit


def test_gap_records_in_s3_follow_their_status(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        spot, usdm = (
            GapLog(tmp_path / "spot", s3, "lake"),
            GapLog(tmp_path, s3, "lake", market="usdm"),
        )
        gap = Gap("BTCUSDT@trade", 11, 13)  # the same ids on two markets: two records
        asyncio.run(spot.record(gap, "open"))
        asyncio.run(spot.record(gap, "filled"))
        asyncio.run(usdm.record(gap, "open"))
        asyncio.run(usdm.record(gap, "unfillable", unserved=1, reason="REST serves MARKET only"))
        for market, status in (("spot", "filled"), ("usdm", "unfillable")):
            key = f"connector/gaps/market={market}/symbol=BTCUSDT/11-13.json"
            body = json.loads(s3.get_object(Bucket="lake", Key=key)["Body"].read())
            assert (body["market"], body["status"]) == (market, status)
    local = [json.loads(line) for line in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    assert [(r["status"], r["missing"], r.get("unserved")) for r in local] == [
        ("open", 3, None),
        ("unfillable", 3, 1),
    ]

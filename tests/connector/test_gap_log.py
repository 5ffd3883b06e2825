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
        log = GapLog(tmp_path, s3, "lake")
        gap = Gap("BTCUSDT@trade", 11, 13)
        asyncio.run(log.record(gap, "open"))
        asyncio.run(log.record(gap, "filled"))
        body = s3.get_object(Bucket="lake", Key="connector/gaps/symbol=BTCUSDT/11-13.json")
        assert json.loads(body["Body"].read())["status"] == "filled"
    local = [json.loads(line) for line in (tmp_path / "gaps.jsonl").read_text().splitlines()]
    assert [(r["status"], r["missing"]) for r in local] == [("open", 3), ("filled", 3)]

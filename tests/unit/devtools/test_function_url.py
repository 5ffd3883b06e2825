"""Requests to the local function URL become the payload-2.0 events AWS sends."""

from __future__ import annotations

import base64

import pytest

from k2_devtools.local.function_url import function_url_event

pytestmark = pytest.mark.unit


def test_get_with_repeated_parameters_joins_them_with_commas_as_aws_does():
    event = function_url_event("GET", "/ohlcv?symbols=BTCUSDT&symbols=ETHUSDT&interval=1m",
                               {"Host": "127.0.0.1:8765"}, b"", "127.0.0.1")  # fmt: skip
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/ohlcv"
    assert event["queryStringParameters"] == {"symbols": "BTCUSDT,ETHUSDT", "interval": "1m"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


def test_a_post_body_arrives_base64_encoded():
    event = function_url_event("POST", "/sql", {}, b'{"sql": "SELECT 1"}', "127.0.0.1")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b'{"sql": "SELECT 1"}'
    assert event["queryStringParameters"] is None

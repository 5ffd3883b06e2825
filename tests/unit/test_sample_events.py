"""Every file in events/ runs against its handler in-process and does what events/README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k2.local.lambda_context import LocalLambdaContext
from normalize.handler import lambda_handler
from tests.lake_files import dead_letters, landed_ids

pytestmark = pytest.mark.unit
EVENTS = Path(__file__).resolve().parents[2] / "events" / "normalize"

# file -> (trades landed, dead letters)
PROMISES = {
    "kinesis-trades.json": (5, 0),
    "kinesis-kpl-aggregated.json": (40, 0),
    "kinesis-poison.json": (2, 3),
}


def test_every_sample_event_has_a_promise():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(PROMISES)


@pytest.mark.parametrize("name", sorted(PROMISES))
def test_sample_event(name, in_process_lake):
    event = json.loads((EVENTS / name).read_text())
    response = lambda_handler(event, LocalLambdaContext("normalize"))
    assert response == {"batchItemFailures": []}
    trades, letters = PROMISES[name]
    assert len(landed_ids(in_process_lake)) == trades
    assert len(dead_letters(in_process_lake)) == letters

"""Every file in events/ runs against its handler in-process and does what events/README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k2_devtools.local.lambda_context import LocalLambdaContext
from normalize.handler import lambda_handler
from tests.support.events import NORMALIZE_SAMPLE_PROMISES
from tests.support.lake_files import dead_letters, landed_ids

pytestmark = pytest.mark.unit
EVENTS = Path(__file__).resolve().parents[3] / "events" / "normalize"


def test_every_sample_event_has_a_promise():
    assert sorted(p.name for p in EVENTS.glob("*.json")) == sorted(NORMALIZE_SAMPLE_PROMISES)


@pytest.mark.parametrize("name", sorted(NORMALIZE_SAMPLE_PROMISES))
def test_sample_event(name, in_process_lake):
    event = json.loads((EVENTS / name).read_text())
    response = lambda_handler(event, LocalLambdaContext("normalize"))
    assert response == {"batchItemFailures": []}
    trades, letters = NORMALIZE_SAMPLE_PROMISES[name]
    assert len(landed_ids(in_process_lake)) == trades
    assert len(dead_letters(in_process_lake)) == letters

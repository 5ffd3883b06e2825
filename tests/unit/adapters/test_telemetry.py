"""Handler metrics: one EMF document per invocation when on, nothing at all on stdout when off."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from k2.adapters.telemetry import log_metrics_per_invocation
from k2_devtools.local.lambda_context import LocalLambdaContext

pytestmark = pytest.mark.unit
INVOCATIONS = 150  # past the 100 values at which Powertools flushes a metric by itself


def handler_counting_frames(metrics: Metrics):
    @log_metrics_per_invocation(metrics)
    def handler(event, context):
        metrics.add_metric("Frames", MetricUnit.Count, event["frames"])
        return {"frames": event["frames"]}

    return handler


def invoke_many(handler) -> None:
    for frames in range(INVOCATIONS):
        assert handler({"frames": frames}, LocalLambdaContext("normalize")) == {"frames": frames}


def test_metrics_turned_off_never_reach_stdout_however_many_invocations(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    invoke_many(handler_counting_frames(Metrics(namespace="K2", service="test-off")))
    assert capsys.readouterr().out == ""


def test_metrics_turned_on_print_one_document_per_invocation(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    invoke_many(handler_counting_frames(Metrics(namespace="K2", service="test-on")))
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [document["Frames"] for document in documents] == [
        [float(n)] for n in range(INVOCATIONS)
    ]

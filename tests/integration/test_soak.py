"""The weekly soak: its function's tasks against a real endpoint, and its state machine.

The soak function's tasks run in-process against the moto server: plan, load steps put
through the connector's Kinesis writer, normalize behind the local event source mapping, the
Iceberg committer, metric samples, reconciliation and the S3 report. The state machine
(infra/statemachines/soak.asl.json) then runs on moto's Step Functions executor (real Map,
Wait, Choice, Succeed and Fail states); its Lambda tasks answer with exactly what the real
function returned above, in the order the state machine calls them.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from k2.adapters import aws
from k2.adapters.iceberg import TradesCommitter
from k2.config import LakeSettings, MappingSettings
from k2_devtools.local.endpoint import LOCAL_CREDENTIALS, embedded_endpoint, moto_api
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.lambda_context import LocalLambdaContext
from k2_devtools.local.pipeline import normalize_event_source
from k2_devtools.local.resources import LocalStack, create_resources
from soak.handler import lambda_handler
from tests.support.events import soak_function_env

pytestmark = pytest.mark.integration
ASL = Path(__file__).resolve().parents[2] / "infra" / "statemachines" / "soak.asl.json"
STEPS, TRADES_PER_STEP = 2, 300
IMMEDIATE = {"pause_seconds": 0, "settle_seconds": 0}  # the Wait states still run, for 0 s


@pytest.fixture
def soak_stack(server_lake: LakeSettings) -> Iterator[tuple[LocalStack, str]]:
    """A stream, failure queue and lake, and the soak function's environment."""
    if not server_lake.glue_catalog:
        pytest.skip("the soak reconciles the Iceberg table, which needs a Glue catalog "
                    "(GLUE_CATALOG=off: LocalStack community has none)")  # fmt: skip
    suffix = uuid.uuid4().hex[:8]
    local = LocalStack(
        lake=server_lake,
        stream_name=f"k2-soak-{suffix}",
        shards=1,
        failure_queue=f"k2-soak-failures-{suffix}",
    )
    queue_url = create_resources(local)
    with scoped_environment(soak_function_env(local.stream_name)):
        yield local, queue_url


def soak_task(action: str, **task: Any) -> Any:
    context: Any = LocalLambdaContext("soak")
    return lambda_handler({"action": action, **task}, context)


def run_soak_tasks(local: LocalStack, queue_url: str, widen_by: int = 0) -> list[Any]:
    """Every task of one soak run, in the state machine's order; returns their results.
    `widen_by` reconciles against ids that were never sent, to see the run fail."""
    normalize = normalize_event_source(
        local, replace(MappingSettings(), batching_window_s=0.0), queue_url
    )
    plan = soak_task(
        "plan", run_id=f"soak-{uuid.uuid4().hex[:6]}", steps=STEPS, trades_per_step=TRADES_PER_STEP
    )
    results = [plan]
    for step in plan["steps"]:
        results.append(
            soak_task("generate", base_id=plan["base_id"], step=step, trades=TRADES_PER_STEP)
        )
        normalize.drain()
        results.append(soak_task("sample"))
    TradesCommitter(local.lake).run()
    reconciliation = soak_task(
        "reconcile", first_id=plan["first_id"], last_id=plan["last_id"] + widen_by
    )
    samples = [r for r in results if "iterator_age_ms" in r]
    verdict = soak_task(
        "report",
        run_id=plan["run_id"],
        reconciliation=reconciliation,
        samples=samples,
        thresholds={},
    )
    return [*results, reconciliation, verdict]


def test_a_soak_run_finds_every_trade_it_sent_and_reports_it(soak_stack):
    local, queue_url = soak_stack
    *_, reconciliation, verdict = run_soak_tasks(local, queue_url)
    assert reconciliation["expected"] == STEPS * TRADES_PER_STEP
    assert reconciliation["landed_rows"] == STEPS * TRADES_PER_STEP
    assert reconciliation["missing"] == reconciliation["duplicated"] == 0
    assert verdict["ok"] is True, verdict["reasons"]
    bucket, key = verdict["report"].removeprefix("s3://").split("/", 1)
    report = json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert report["ok"] is True
    assert report["reconciliation"] == reconciliation


def test_a_soak_run_fails_when_trades_are_missing(soak_stack):
    local, queue_url = soak_stack
    *_, reconciliation, verdict = run_soak_tasks(local, queue_url, widen_by=25)
    assert reconciliation["missing"] == 25
    assert verdict["ok"] is False
    assert verdict["reasons"] == ["25 trades missing"]


def test_the_soak_function_rejects_an_unknown_action():
    with pytest.raises(ValueError, match="unknown action 'explode'"):
        soak_task("explode")


# --- the state machine on moto's Step Functions executor -------------------------------------


EXECUTOR_ON = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
EXECUTOR_OFF = {"stepfunctions": {"execute_state_machine": False}, "lambda": {"use_docker": True}}


def execute_soak_state_machine(task_results: list[Any]) -> dict[str, Any]:
    """Run the ASL with Lambda tasks answering `task_results` in order; the final execution.
    moto's config is process-wide, so the executor is switched off again afterwards."""
    with embedded_endpoint() as url:
        port = url.rsplit(":", 1)[1]  # the executor calls the Lambda API back on this port
        with scoped_environment({**LOCAL_CREDENTIALS, "MOTO_PORT": port}):
            moto_api(url, "/moto-api/config", EXECUTOR_ON)
            try:
                return _execute(url, task_results)
            finally:
                moto_api(url, "/moto-api/config", EXECUTOR_OFF)


def _execute(url: str, task_results: list[Any]) -> dict[str, Any]:
    results = [json.dumps(result) for result in task_results]
    moto_api(url, "/moto-api/static/lambda-simple/response", {"results": results})
    function_arn = "arn:aws:lambda:us-east-1:123456789012:function:k2-soak:live"
    definition = ASL.read_text().replace("${SoakFunctionArn}", function_arn)
    sfn = boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1")
    machine = sfn.create_state_machine(
        name="k2-soak", definition=definition, roleArn="arn:aws:iam::123456789012:role/k2-soak"
    )["stateMachineArn"]
    schedule_input = {"steps": STEPS, "trades_per_step": TRADES_PER_STEP, **IMMEDIATE,
                      "thresholds": {}}  # fmt: skip
    execution = sfn.start_execution(
        stateMachineArn=machine, name="weekly", input=json.dumps(schedule_input)
    )["executionArn"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            history = sfn.get_execution_history(executionArn=execution)["events"]
            return {**described, "states": [e["type"] for e in history]}
        time.sleep(0.1)
    raise TimeoutError("the soak execution did not finish in 30 s")


def test_the_state_machine_succeeds_on_a_clean_run(soak_stack):
    execution = execute_soak_state_machine(run_soak_tasks(*soak_stack))
    assert execution["status"] == "SUCCEEDED"
    output = json.loads(execution["output"])
    assert output["reconciliation"]["missing"] == 0
    assert len(output["samples"]) == STEPS  # one sample per load step, from the Map state
    assert execution["states"].count("MapIterationSucceeded") == STEPS
    assert execution["states"].count("WaitStateExited") == STEPS + 1  # pauses + settle


def test_the_state_machine_fails_the_execution_on_loss(soak_stack):
    execution = execute_soak_state_machine(
        run_soak_tasks(soak_stack[0], soak_stack[1], widen_by=25)
    )
    assert execution["status"] == "FAILED"
    assert execution["error"] == "SoakFailed"
    assert "FailStateEntered" in execution["states"]

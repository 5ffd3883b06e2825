"""template.yaml deploys: translated by aws-sam-translator and created as a CloudFormation
stack on a moto server, it reaches CREATE_COMPLETE and the resources really exist.

moto's CloudFormation skips some resource types (listed in MOTO_SKIPS with a warning each);
the stack still completes, and what those resources would do is checked on the translated
template in tests/unit/test_template.py, as is the state machine's DefinitionSubstitutions,
which moto leaves unapplied. Two adjustments, both for moto only and nothing else:
- the Glue database is created directly with the template's own DatabaseInput;
- references to the `live` aliases point at their functions, because moto cannot create an
  alias from CloudFormation (the alias wiring itself is specified in test_template.py).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from k2_devtools.local.endpoint import LOCAL_CREDENTIALS, embedded_endpoint
from k2_devtools.local.environment import scoped_environment
from tests.support.sam_template import (
    CODE_BUCKET,
    CODE_KEY,
    ROOT,
    resources_of_type,
    translated_template,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Tried to parse AWS::"),
]
MOTO_SKIPS = {
    "AWS::Athena::WorkGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::Glue::Database",
    "AWS::Lambda::Alias",
    "AWS::Lambda::Url",
    "AWS::Logs::MetricFilter",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",  # conditional: AlarmEmail is empty by default
    "AWS::Scheduler::Schedule",
}
FUNCTIONS = ("NormalizeFunction", "CommitterFunction", "QueryFunction", "SoakFunction")


def for_moto(template: dict[str, Any]) -> dict[str, Any]:
    """Point alias references at their functions and drop outputs of skipped resources."""
    aliases = {
        name: resource["Properties"]["FunctionName"]
        for name, resource in resources_of_type(template, "AWS::Lambda::Alias").items()
    }

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            if node.keys() == {"Ref"} and node["Ref"] in aliases:
                return aliases[node["Ref"]]
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        return node

    skipped = {n for n, r in template["Resources"].items() if r["Type"] in MOTO_SKIPS}
    template["Outputs"] = {
        name: output
        for name, output in template["Outputs"].items()
        if not any(f'"{s}' in json.dumps(output) for s in skipped)
    }
    return swap(template)


def code_zip() -> bytes:
    """The functions' own code (dependencies are not needed to create them)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in (ROOT / "functions").rglob("*.py"):
            archive.write(path, path.relative_to(ROOT / "functions"))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, dict[str, str], dict[str, Any]]]:
    """(endpoint, logical id -> physical id, outputs) of the created stack."""
    template = translated_template()
    with embedded_endpoint() as url, scoped_environment(LOCAL_CREDENTIALS):
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        s3.create_bucket(Bucket=CODE_BUCKET)
        s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=code_zip())
        database = template["Resources"]["GlueDatabase"]["Properties"]["DatabaseInput"]
        glue = boto3.client("glue", endpoint_url=url, region_name="us-east-1")
        # the template's Name is !Sub k2_${Environment}; the stack is created for dev
        glue.create_database(DatabaseInput={**database, "Name": "k2_dev"})
        cloudformation = boto3.client("cloudformation", endpoint_url=url, region_name="us-east-1")
        cloudformation.create_stack(
            StackName="k2-dev",
            TemplateBody=json.dumps(for_moto(template)),
            Capabilities=["CAPABILITY_IAM"],
        )
        [described] = cloudformation.describe_stacks(StackName="k2-dev")["Stacks"]
        assert described["StackStatus"] == "CREATE_COMPLETE", described.get("StackStatusReason")
        summaries = cloudformation.list_stack_resources(StackName="k2-dev")[
            "StackResourceSummaries"
        ]
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries}
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        yield url, physical, outputs


def client(url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")  # type: ignore[call-overload]


def test_every_resource_is_created_except_the_types_moto_skips(stack):
    _, physical, _ = stack
    template = translated_template()
    not_created = {
        template["Resources"][name]["Type"] for name in set(template["Resources"]) - set(physical)
    }
    assert not_created <= MOTO_SKIPS


def test_the_stream_exists_encrypted_with_the_outputs_name(stack):
    url, _, outputs = stack
    summary = client(url, "kinesis").describe_stream_summary(StreamName=outputs["StreamName"])
    assert summary["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    assert summary["StreamDescriptionSummary"]["StreamARN"] == outputs["StreamArn"]


def test_the_buckets_exist(stack):
    url, _, outputs = stack
    names = {b["Name"] for b in client(url, "s3").list_buckets()["Buckets"]}
    for output in ("LakeBucketName", "DeadLetterBucketName", "AthenaResultsBucketName"):
        assert outputs[output] in names


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_exists_with_its_handler_and_the_stacks_resources(stack, function):
    url, physical, _ = stack
    configuration = client(url, "lambda").get_function(FunctionName=physical[function])[
        "Configuration"
    ]
    assert configuration["Runtime"] == "python3.12"
    assert configuration["Handler"].endswith(".handler.lambda_handler")
    variables = configuration["Environment"]["Variables"]
    assert variables["LAKE_BUCKET"] == physical["LakeBucket"]
    assert variables["DEAD_LETTER_BUCKET"] == physical["DeadLetterBucket"]


def test_the_event_source_mapping_feeds_normalize_from_the_stream(stack):
    url, physical, outputs = stack
    mappings = client(url, "lambda").list_event_source_mappings(
        FunctionName=physical["NormalizeFunction"]
    )
    [mapping] = mappings["EventSourceMappings"]
    assert mapping["EventSourceArn"] == outputs["StreamArn"]
    assert mapping["BatchSize"] == 100


def test_the_soak_state_machine_and_its_weekly_schedule_exist(stack):
    url, physical, outputs = stack
    machine = client(url, "stepfunctions").describe_state_machine(
        stateMachineArn=outputs["SoakStateMachineArn"]
    )
    # moto leaves DefinitionSubstitutions unapplied; CloudFormation puts the alias ARN there
    asl = json.loads((ROOT / "infra" / "statemachines" / "soak.asl.json").read_text())
    assert json.loads(machine["definition"]) == asl
    events = client(url, "events")
    rule = events.describe_rule(Name=physical["SoakStateMachineWeekly"])
    assert rule["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    assert rule["State"] == "DISABLED"  # the parameter's default; staging enables it
    [target] = events.list_targets_by_rule(Rule=physical["SoakStateMachineWeekly"])["Targets"]
    assert target["Arn"] == outputs["SoakStateMachineArn"]


def test_the_connector_service_runs_its_task_definition(stack):
    """(moto keeps a service's cluster, task definition and count, not its launch type or
    network: those are specified in test_template.py.)"""
    url, _, outputs = stack
    ecs = client(url, "ecs")
    [service] = ecs.describe_services(
        cluster=outputs["ConnectorClusterName"], services=[outputs["ConnectorServiceName"]]
    )["services"]
    assert service["desiredCount"] == 1
    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    [container] = task["containerDefinitions"]
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert environment["K2_STREAM_NAME"] == outputs["StreamName"]
    assert "/health" in " ".join(container["healthCheck"]["command"])


def test_a_blue_green_shift_of_the_live_alias_and_its_rollback(stack):
    """What CodeDeploy does to a function on `sam deploy` with Canary10Percent5Minutes (the
    staging and prod DeploymentType), done by hand through the same Lambda API calls on the
    deployed normalize function: publish the new code as a version, send it 10 % of the
    alias's traffic, then all of it; on an alarm, route everything back. The alias ARN, which
    the event source mapping, schedule, URL and state machine invoke, never changes.

    (moto runs no CodeDeploy and cannot invoke code without Docker, so the traffic split is
    checked as the alias's routing configuration, not by sending invocations.)"""
    url, physical, _ = stack
    lambda_ = client(url, "lambda")
    [alias] = [
        r["Properties"]
        for r in resources_of_type(translated_template(), "AWS::Lambda::Alias").values()
        if r["Properties"]["FunctionName"] == {"Ref": "NormalizeFunction"}
    ]
    function = physical["NormalizeFunction"]
    blue = lambda_.publish_version(FunctionName=function)["Version"]
    live = lambda_.create_alias(FunctionName=function, Name=alias["Name"], FunctionVersion=blue)
    lambda_.update_function_configuration(
        FunctionName=function, Description="green: the next deployment"
    )
    green = lambda_.publish_version(FunctionName=function)["Version"]
    assert green != blue

    def route(version: str, canary: dict[str, float]) -> dict[str, Any]:
        lambda_.update_alias(FunctionName=function, Name=alias["Name"], FunctionVersion=version,
                             RoutingConfig={"AdditionalVersionWeights": canary})  # fmt: skip
        return lambda_.get_alias(FunctionName=function, Name=alias["Name"])

    during = route(blue, {green: 0.1})
    assert (during["FunctionVersion"], during["RoutingConfig"]) == (
        blue,
        {"AdditionalVersionWeights": {green: 0.1}},
    )
    shifted = route(green, {})
    assert shifted["FunctionVersion"] == green
    assert not shifted.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    rolled_back = route(blue, {})
    assert rolled_back["FunctionVersion"] == blue
    assert {during["AliasArn"], shifted["AliasArn"], rolled_back["AliasArn"]} == {live["AliasArn"]}
    description = lambda_.get_function(FunctionName=function, Qualifier=green)["Configuration"]
    assert description["Description"] == "green: the next deployment"

"""The deployed shape, read from the template as CloudFormation receives it (translated by
aws-sam-translator, offline): least-privilege IAM, blue/green for every function, schedules
and the deploy environments."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from typing import Any

import pytest

from tests.support.sam_template import ROOT, resources_of_type, sam_template, translated_template

pytestmark = pytest.mark.unit

# What a state machine needs to deliver its own logs to CloudWatch Logs.
LOG_DELIVERY = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
# What each role may do: exactly these actions, no more (the spec of least privilege).
ROLE_ACTIONS = {
    "NormalizeFunctionRole": {
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",  # its event source mapping
        "s3:PutObject",  # staging Parquet, dead letters
        "glue:GetTable",
        "glue:CreateTable",
        "glue:UpdateTable",
        "glue:BatchCreatePartition",
        "sqs:SendMessage",  # batches that exhaust their retries
    },
    "CommitterFunctionRole": {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "glue:GetDatabase",
        "glue:CreateDatabase",
        "glue:GetTable",
        "glue:CreateTable",
        "glue:UpdateTable",
    },
    "QueryFunctionRole": {
        "athena:StartQueryExecution",
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:StopQueryExecution",
        "athena:GetWorkGroup",
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:GetPartitions",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:PutObject",
        "s3:AbortMultipartUpload",  # Athena results, in their own bucket
    },
    "SoakFunctionRole": {
        "kinesis:PutRecords",
        "kinesis:ListShards",
        "cloudwatch:GetMetricData",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
        "glue:GetDatabase",
        "glue:GetTable",
    },
    "ConnectorTaskRole": {
        "kinesis:PutRecords",
        "kinesis:ListShards",
        "s3:PutObject",
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientWrite",
    },
    "ConnectorExecutionRole": {
        "ecr:GetAuthorizationToken",
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    },
    "SoakStateMachineRole": {"lambda:InvokeFunction", *LOG_DELIVERY},
    "CommitterFunctionScheduleRole": {"lambda:InvokeFunction"},
    "SoakStateMachineWeeklyRole": {"states:StartExecution"},
    "CodeDeployServiceRole": set(),  # AWS's managed CodeDeploy-for-Lambda policy only
}
# Actions without resource-level permissions: AWS accepts only "*" for them.
RESOURCE_STAR_REQUIRED = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:GetMetricData",
    *LOG_DELIVERY,
}
# AWS managed policies SAM attaches, each for a reason AWS defines: logs, X-Ray, CodeDeploy.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda",
}
FUNCTIONS = ("NormalizeFunction", "CommitterFunction", "QueryFunction", "SoakFunction")


def allow_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    statements = []
    for policy in role["Properties"].get("Policies", []):
        found = policy["PolicyDocument"]["Statement"]
        statements += [
            s for s in (found if isinstance(found, list) else [found]) if s["Effect"] == "Allow"
        ]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_role_has_a_least_privilege_spec():
    roles = resources_of_type(translated_template(), "AWS::IAM::Role")
    assert set(roles) == set(ROLE_ACTIONS)


@pytest.mark.parametrize("role_name", sorted(ROLE_ACTIONS))
def test_each_role_may_do_exactly_what_its_component_uses(role_name):
    role = resources_of_type(translated_template(), "AWS::IAM::Role")[role_name]
    actions = {a for s in allow_statements(role) for a in as_list(s["Action"])}
    assert actions == ROLE_ACTIONS[role_name]


@pytest.mark.parametrize("role_name", sorted(ROLE_ACTIONS))
def test_no_wildcards_except_where_aws_requires_them(role_name):
    role = resources_of_type(translated_template(), "AWS::IAM::Role")[role_name]
    for statement in allow_statements(role):
        actions = as_list(statement["Action"])
        assert not [a for a in actions if "*" in a], statement
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= RESOURCE_STAR_REQUIRED, statement
    assert set(role["Properties"].get("ManagedPolicyArns", [])) <= ALLOWED_MANAGED_POLICIES


def test_the_connector_puts_trades_writes_its_records_and_mounts_its_journal_nothing_else():
    role = resources_of_type(translated_template(), "AWS::IAM::Role")["ConnectorTaskRole"]
    put, records, journal = allow_statements(role)
    assert (put["Action"], put["Resource"]) == (
        ["kinesis:PutRecords", "kinesis:ListShards"], {"Fn::GetAtt": ["TradesStream", "Arn"]}
    )  # fmt: skip
    assert (records["Action"], records["Resource"]) == (
        "s3:PutObject", {"Fn::Sub": "${DeadLetterBucket.Arn}/connector/*"}
    )  # fmt: skip
    assert "file-system/${ConnectorJournalFileSystem}" in journal["Resource"]["Fn::Sub"]
    assert "elasticfilesystem:AccessPointArn" in journal["Condition"]["StringEquals"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_deploys_blue_green_behind_its_errors_alarm(function):
    template = translated_template()
    group = template["Resources"][f"{function}DeploymentGroup"]["Properties"]
    assert group["DeploymentStyle"]["DeploymentType"] == "BLUE_GREEN"
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    [alarm] = [a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]]
    dimensions = template["Resources"][alarm]["Properties"]["Dimensions"]
    assert {"Name": "FunctionName", "Value": {"Ref": function}} in dimensions
    assert f"{function}Aliaslive" in resources_of_type(template, "AWS::Lambda::Alias")


def test_every_trigger_invokes_the_live_alias_so_canaries_take_real_traffic():
    resources = translated_template()["Resources"]
    mapping = resources["NormalizeEventSourceMapping"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "NormalizeFunctionAliaslive"}
    url = resources["QueryFunctionUrl"]["Properties"]
    assert url["TargetFunctionArn"] == {"Ref": "QueryFunctionAliaslive"}
    schedule = resources["CommitterFunctionSchedule"]["Properties"]
    assert schedule["Target"]["Arn"] == {"Ref": "CommitterFunctionAliaslive"}
    soak = resources["SoakStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert soak == {"SoakFunctionArn": {"Ref": "SoakFunctionAliaslive"}}


def test_the_kinesis_mapping_reports_item_failures_and_parks_exhausted_batches():
    mapping = translated_template()["Resources"]["NormalizeEventSourceMapping"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["NormalizeFailureQueue", "Arn"]}


def test_the_soak_runs_weekly_with_its_state_machine_input():
    rule = translated_template()["Resources"]["SoakStateMachineWeekly"]["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    assert rule["State"] == {"Ref": "SoakScheduleState"}
    [target] = rule["Targets"]
    assert target["Arn"] == {"Ref": "SoakStateMachine"}
    parameters = sam_template()["Parameters"]
    with_defaults = re.sub(
        r"\$\{(\w+)\}", lambda m: str(parameters[m[1]]["Default"]), target["Input"]["Fn::Sub"]
    )
    assert json.loads(with_defaults) == {
        "steps": 24,
        "trades_per_step": 50_000,
        "pause_seconds": 300,
        "settle_seconds": 900,
        "thresholds": {},
    }


def test_every_bucket_is_encrypted_private_and_tls_only():
    resources = sam_template()["Resources"]
    buckets = resources_of_type(sam_template(), "AWS::S3::Bucket")
    policies = resources_of_type(sam_template(), "AWS::S3::BucketPolicy")
    assert set(buckets) == {"LakeBucket", "DeadLetterBucket", "AthenaResultsBucket"}
    tls_only = {
        p["Properties"]["Bucket"]["Ref"]
        for p in policies.values()
        if p["Properties"]["PolicyDocument"]["Statement"][0]["Condition"]
        == {"Bool": {"aws:SecureTransport": "false"}}
    }
    assert tls_only == set(buckets)
    for bucket in buckets.values():
        properties = bucket["Properties"]
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert properties["LifecycleConfiguration"]["Rules"]
    assert resources["TradesStream"]["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS"


def test_the_lake_keeps_deleted_or_replaced_objects_recoverable_for_a_while():
    lake = sam_template()["Resources"]["LakeBucket"]["Properties"]
    assert lake["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in lake["LifecycleConfiguration"]["Rules"]}
    replaced = rules["expire-replaced-versions"]
    assert replaced["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "LakeVersionRetentionDays"}
    }
    assert replaced["ExpiredObjectDeleteMarker"] is True
    assert "Prefix" not in replaced  # the whole lake: table data, metadata and staging


# --- samconfig.toml ---------------------------------------------------------------------------


def samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def overrides(environment: str) -> dict[str, str]:
    pairs = shlex.split(samconfig()[environment]["deploy"]["parameters"]["parameter_overrides"])
    return dict(pair.split("=", 1) for pair in pairs)


def test_samconfig_has_the_four_environments_with_their_own_stacks():
    config = samconfig()
    assert {"default", "dev", "staging", "prod"} <= set(config)
    stacks = {
        env: config[env]["deploy"]["parameters"]["stack_name"] for env in ("dev", "staging", "prod")
    }
    assert len(set(stacks.values())) == 3
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True


@pytest.mark.parametrize("environment", ["default", "dev", "staging", "prod"])
def test_samconfig_overrides_only_parameters_the_template_has(environment):
    assert set(overrides(environment)) <= set(sam_template()["Parameters"])


def test_the_soak_runs_weekly_in_staging_only():
    """Staging is where releases soak; in prod its synthetic symbol would show up in the
    users' lake, and dev is torn down and rebuilt too often for a weekly run."""
    assert overrides("staging")["SoakScheduleState"] == "ENABLED"
    assert overrides("dev")["SoakScheduleState"] == "DISABLED"
    assert overrides("prod")["SoakScheduleState"] == "DISABLED"


def test_the_connector_is_a_fargate_task_with_no_way_in():
    resources = sam_template()["Resources"]
    service = resources["ConnectorService"]["Properties"]
    task = resources["ConnectorTaskDefinition"]["Properties"]
    assert service["LaunchType"] == "FARGATE"
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    [container] = task["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    assert "/health" in " ".join(container["HealthCheck"]["Command"])
    assert "SecurityGroupIngress" not in resources["ConnectorSecurityGroup"]["Properties"]


def test_the_connector_journal_outlives_the_task_and_a_stop_outlasts_the_drain():
    """The journal is on EFS (a replacement task delivers what the last one journaled), one
    connector holds it at a time (the old task stops before the new one starts), and the stop
    timeout covers the drain deadline plus one Kinesis put in flight (~40 s)."""
    resources = sam_template()["Resources"]
    task = resources["ConnectorTaskDefinition"]["Properties"]
    [volume] = task["Volumes"]
    assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    [container] = task["ContainerDefinitions"]
    assert container["MountPoints"] == [
        {"SourceVolume": volume["Name"], "ContainerPath": "/var/lib/k2-connector"}
    ]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert container["StopTimeout"] >= float(environment["K2_DRAIN_DEADLINE_S"]) + 40
    assert environment["K2_RECORDS_BUCKET"] == {"Ref": "DeadLetterBucket"}
    deployment = resources["ConnectorService"]["Properties"]["DeploymentConfiguration"]
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (0, 100)
    assert resources["ConnectorJournalFileSystem"]["Properties"]["Encrypted"] is True

"""template.yaml as the tests read it: parsed as SAM, and translated to plain CloudFormation
by aws-sam-translator (what `sam deploy` submits), offline."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import samtranslator
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from k2_devtools.local.environment import scoped_environment

ROOT = Path(__file__).resolve().parents[2]
# Where the translated template says the code is; `sam package` would put the zip there.
CODE_BUCKET, CODE_KEY = "k2-code", "functions.zip"


def sam_template() -> dict[str, Any]:
    return yaml_parse((ROOT / "template.yaml").read_text())


def translated_template() -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would create (a fresh copy per call)."""
    return copy.deepcopy(_translated())


@cache
def _translated() -> dict[str, Any]:
    template = sam_template()
    template["Globals"]["Function"]["CodeUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::StateMachine":  # as `sam package` inlines it
            properties = resource["Properties"]
            properties["Definition"] = json.loads(
                (ROOT / properties.pop("DefinitionUri")).read_text()
            )
    with scoped_environment({"AWS_DEFAULT_REGION": "us-east-1"}):
        return transform(template, {}, _ManagedPolicies())


class _ManagedPolicies:
    """The AWS managed-policy names the translator resolves, from its bundled copy."""

    def load(self) -> dict[str, str]:
        bundled = Path(samtranslator.__file__).parent / "internal/data/aws_managed_policies.json"
        return dict(json.loads(bundled.read_text())["aws"])


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}

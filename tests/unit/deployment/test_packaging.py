"""The deployment contract: template, Lambda requirements and code agree with each other."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest
from cfnlint.api import lint_all
from samtranslator.yaml_helper import yaml_parse

from k2.config import LakeSettings, MappingSettings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def template() -> dict:
    return yaml_parse((ROOT / "template.yaml").read_text())


def test_template_is_cfn_lint_clean():
    findings = lint_all((ROOT / "template.yaml").read_text())
    problems = [str(f) for f in findings if f.rule.id[0] in "EW"]  # informational ones aside
    assert problems == []


def test_every_function_handler_resolves_from_the_code_root():
    functions = {
        name: resource["Properties"]
        for name, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert functions
    for properties in functions.values():
        module, _, attribute = properties["Handler"].rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute))


def test_functions_get_every_setting_the_code_reads():
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    settings = LakeSettings("b", "p", "d", "dp", "g", "t", endpoint_url=None)
    assert set(settings.as_env()) <= set(variables)


@pytest.mark.parametrize(
    "requirements", sorted((ROOT / "functions" / "requirements").glob("*.txt")), ids=str
)
def test_lambda_requirements_are_pinned_to_the_lock_file(requirements):
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    locked["numpy"] = max(
        (p["version"] for p in lock["package"] if p["name"] == "numpy"),
        key=lambda v: tuple(map(int, v.split("."))),
    )  # python3.12 resolves the newest numpy of the lock
    lines = requirements.read_text().splitlines()
    pins = [line for line in lines if line and not line.startswith(("#", "-r "))]
    assert pins
    for pin in pins:
        name, version = pin.split("==")
        assert version == locked[name.split("[")[0]], pin
    assert not any(pin.startswith(("boto3", "botocore")) for pin in pins)  # runtime provides


def test_every_function_builds_from_a_requirements_set():
    makefile = (ROOT / "functions" / "Makefile").read_text()
    for name, resource in template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert resource["Metadata"] == {"BuildMethod": "makefile"}
            assert f"build-{name}:" in makefile


def test_local_event_source_mapping_defaults_are_the_templates():
    parameters = template()["Parameters"]
    mapping = template()["Resources"]["NormalizeEventSourceMapping"]["Properties"]
    defaults = MappingSettings()
    assert defaults.batch_size == parameters["NormalizeBatchSize"]["Default"]
    assert defaults.batching_window_s == parameters["NormalizeBatchingWindowSeconds"]["Default"]
    assert defaults.max_retry_attempts == parameters["NormalizeMaxRetries"]["Default"]
    assert defaults.max_record_age_s == parameters["NormalizeMaxRecordAgeSeconds"]["Default"]
    assert defaults.bisect_on_error == mapping["BisectBatchOnFunctionError"]
    assert mapping["BatchSize"] == {"Ref": "NormalizeBatchSize"}

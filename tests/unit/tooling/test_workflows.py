"""The CI/CD workflows are valid and keep their promises, checked offline: each against the
GitHub workflow schema (check-jsonschema's vendored copy), every job bounded in time, every
workflow with a concurrency group, every `make` target they call present in the Makefile."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
EXPECTED = {"pr-validation", "pr-full-check", "post-merge", "nightly", "soak-weekly",
            "chaos-manual"}  # fmt: skip
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def workflow(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z0-9_-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def run_steps(path: Path) -> list[str]:
    return [step["run"] for job in workflow(path)["jobs"].values()
            for step in job.get("steps", []) if "run" in step]  # fmt: skip


def test_the_six_workflows_exist():
    assert {path.stem for path in WORKFLOWS} == EXPECTED


@pytest.mark.parametrize(
    ("path", "schema"),
    [(path, "vendor.github-workflows") for path in WORKFLOWS]
    + [(ROOT / ".github" / "dependabot.yml", "vendor.dependabot")],
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_each_file_validates_against_githubs_schema(path, schema):
    result = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)],
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_job_has_a_timeout_and_every_workflow_a_concurrency_group(path):
    body = workflow(path)
    assert body["concurrency"]["group"]
    for name, job in body["jobs"].items():
        assert job.get("timeout-minutes"), f"{path.name}: job {name} has no timeout"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_make_target_a_workflow_calls_exists(path):
    called = {
        target for run in run_steps(path) for target in re.findall(r"\bmake ([a-z0-9-]+)", run)
    }
    assert called <= make_targets()


def test_pull_requests_run_the_readme_test_command_and_unit_shards():
    runs = run_steps(ROOT / ".github" / "workflows" / "pr-validation.yml")
    assert "bash .ci/run" in runs
    assert any("--splits 4" in run for run in runs)


def test_dependabot_watches_pip_actions_and_docker():
    body = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in body["updates"]} == {"pip", "github-actions", "docker"}

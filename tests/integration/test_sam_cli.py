"""The SAM CLI accepts and builds the template, offline, and what it builds runs.

`sam validate --lint` and `sam build` (BuildMethod: makefile, no Docker) run for real. Each
built package must fit Lambda's 250 MB unzipped limit and import its handler in a bare
interpreter that sees only the package and what the python3.12 runtime provides (boto3 and
its dependencies), so a dependency the slimming removed, or one never listed, fails here
rather than in AWS. The normalize package then processes a sample event against moto.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.support.lake_files import landed_ids
from tests.support.sam_template import ROOT

# Slow tier (nightly `make test-slow`): `sam build` alone is ~30 s of CPU, and the PR full
# check runs `make sam-validate sam-build` on every pull request anyway.
pytestmark = [pytest.mark.integration, pytest.mark.slow]
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
# What the python3.12 Lambda runtime has besides the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
HANDLERS = {
    "NormalizeFunction": "normalize.handler",
    "CommitterFunction": "committer.handler",
    "QueryFunction": "query.handler",
    "SoakFunction": "soak.handler",
}


def sam(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1",
                   "UV": str(Path(sys.executable).parent / "uv")}  # fmt: skip
    return subprocess.run([str(SAM), *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip


@pytest.fixture(scope="session")
def sam_cli() -> Path:
    """The SAM CLI in its own environment (`make` installs it from infra/sam/requirements.txt)."""
    subprocess.run(["make", "-s", str(SAM.relative_to(ROOT))], cwd=ROOT, check=True, timeout=600)
    return SAM


@pytest.fixture(scope="session")
def built(sam_cli: Path, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """One `sam build` per test run. Under xdist the workers share it through a lock in the
    run's common temporary folder: with `--dist worksteal` a per-worker or per-module build
    ran up to three times, ~15 s of CPU each."""
    run_folder = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        run_folder = run_folder.parent  # this run's folder, shared by its workers
    build_dir, done = run_folder / "sam-build", run_folder / "sam-build.done"
    with (run_folder / "sam-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not done.exists():
            result = sam("build", "--build-dir", str(build_dir),
                         "--cache-dir", str(build_dir / ".cache"))  # fmt: skip
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            done.touch()
    return build_dir


@pytest.fixture(scope="module")
def runtime_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-in for the runtime's own packages: links to this environment's copies."""
    runtime = tmp_path_factory.mktemp("lambda-runtime")
    site_packages = Path(boto3.__file__).parents[1]
    for name in RUNTIME_PROVIDED:
        (runtime / name).symlink_to(site_packages / name)
    return runtime


def test_sam_validate_lint_accepts_the_template(sam_cli):
    result = sam("validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_built_package_fits_the_lambda_limit(built, function):
    package = built / function
    size = sum(path.stat().st_size for path in package.rglob("*") if path.is_file())
    assert 0 < size < LAMBDA_UNZIPPED_LIMIT, f"{function}: {size / 2**20:.0f} MB"
    assert not (package / "botocore").exists()  # the runtime's copy is used


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_built_package_holds_our_lambda_code_and_no_dev_tools(built, function):
    package = built / function
    for dev_only in ("k2_devtools", "k2_connector", "moto", "duckdb", "tests"):
        assert not (package / dev_only).exists(), f"{function} ships {dev_only}"

    def python_files(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))

    assert python_files(package / "k2") == python_files(ROOT / "functions" / "k2")


@pytest.mark.skipif(sys.version_info[:2] != (3, 12), reason="the packages hold cp312 wheels")
@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_built_package_imports_its_handler_with_only_the_runtimes_packages(
    built, runtime_packages, function
):
    code = (f"import sys; sys.path[:0] = [{str(built / function)!r}, {str(runtime_packages)!r}]; "
            f"import {HANDLERS[function]} as h; assert callable(h.lambda_handler)")  # fmt: skip
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.skipif(sys.version_info[:2] != (3, 12), reason="the packages hold cp312 wheels")
def test_the_built_normalize_package_lands_a_sample_event(built, runtime_packages, server_lake):
    """The sample event's 5 trades land in S3, written by the built package's own code."""
    event = ROOT / "events" / "normalize" / "kinesis-trades.json"
    code = "\n".join([
        "import json, sys",
        f"sys.path[:0] = [{str(built / 'NormalizeFunction')!r}, {str(runtime_packages)!r}]",
        "from normalize.handler import lambda_handler",
        "class Context:",
        "    function_name, memory_limit_in_mb, aws_request_id = 'normalize', 1024, 'r'",
        "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:normalize'",
        f"event = json.loads(open({str(event)!r}).read())",
        "print(json.dumps(lambda_handler(event, Context())))",
    ])  # fmt: skip
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {"batchItemFailures": []}
    assert len(landed_ids(server_lake)) == 5

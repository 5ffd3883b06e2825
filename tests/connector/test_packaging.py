"""The connector image: its dependency set is enough, and pinned to the lock file."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
BLOCK_HEAVY_MODULES = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pyarrow", "numpy", "pandas", "awswrangler", "fastavro"}:
            raise ImportError(f"{name} is not in the connector image")
sys.meta_path.insert(0, Block())
from k2_connector.cli import connector_main
sys.exit(connector_main(["--help"]))
"""


def test_the_connector_runs_without_pyarrow_numpy_or_pandas():
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_HEAVY_MODULES], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "--symbols" in result.stdout


def test_connector_requirements_are_pinned_to_the_lock_file():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    lines = (ROOT / "connector" / "requirements.txt").read_text().splitlines()
    pins = [line for line in lines if line and not line.startswith("#")]
    assert {pin.split("==")[0] for pin in pins} == {"boto3", "websockets", "orjson"}
    for pin in pins:
        name, version = pin.split("==")
        assert locked[name] == version, pin

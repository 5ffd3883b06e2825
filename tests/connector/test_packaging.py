"""The connector image: the files its Dockerfile copies are enough to run it, without the data
libraries, and its dependency set is pinned to the lock file."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
# Runs with only the image's /app on the path first: a k2 module the Dockerfile does not copy
# cannot be found (k2 is a regular package, so the checkout's copy is never merged in), and the
# data libraries the image leaves out refuse to import.
RUN_FROM_IMAGE_FILES = """
import sys
app = sys.argv[1]
sys.path.insert(0, app)
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"pyarrow", "numpy", "pandas", "awswrangler", "fastavro",
                                  "pyiceberg", "duckdb", "sqlglot", "moto", "k2_devtools"}:
            raise ImportError(f"{name} is not in the connector image")
sys.meta_path.insert(0, Block())
import k2_connector.app, k2_connector.health, k2_connector.recorder
from k2_connector.cli import connector_main
ours = [m for name, m in sys.modules.items() if name.split(".")[0] in {"k2", "k2_connector"}]
strays = [m.__name__ for m in ours if not (m.__file__ or "").startswith(app)]
assert not strays, f"imported from outside the image: {strays}"
sys.exit(connector_main(["--help"]))
"""


def image_files(tmp_path: Path) -> Path:
    """Lay out /app as the Dockerfile's COPY lines (from the build context) do."""
    app = tmp_path / "app"
    for line in (ROOT / "connector" / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY ") or "--from" in line:
            continue
        words = shlex.split(line)
        *sources, destination = words[1:]
        target = app / destination.removeprefix("/app/")
        for source in map(ROOT.joinpath, sources):
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, target)
    return app


def test_the_connector_runs_from_exactly_the_files_its_image_copies(tmp_path):
    app = image_files(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", RUN_FROM_IMAGE_FILES, str(app)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--symbols" in result.stdout
    shipped = sorted(p.relative_to(app).as_posix() for p in app.rglob("*.py"))
    assert [p for p in shipped if p.startswith("k2/")] == [
        "k2/__init__.py", "k2/adapters/__init__.py", "k2/adapters/aws.py",
        "k2/adapters/kinesis/__init__.py", "k2/adapters/kinesis/writer.py",
        "k2/binance/__init__.py", "k2/binance/strict.py", "k2/config.py",
        "k2/domain/__init__.py", "k2/domain/instrument.py", "k2/domain/kpl.py",
        "k2/domain/rejects.py", "k2/domain/schema/__init__.py", "k2/domain/schema/avro.py",
        "k2/domain/shards.py", "k2/lazy.py",
    ]  # fmt: skip


def test_connector_requirements_are_pinned_to_the_lock_file():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}
    lines = (ROOT / "connector" / "requirements.txt").read_text().splitlines()
    pins = [line for line in lines if line and not line.startswith("#")]
    assert {pin.split("==")[0] for pin in pins} == {"boto3", "websockets", "orjson"}
    for pin in pins:
        name, version = pin.split("==")
        assert locked[name] == version, pin

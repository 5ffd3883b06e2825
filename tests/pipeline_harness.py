"""Shared by the chaos and operational tiers: `k2 lake verify` run as a user runs it (their
session comes from the `replay_session` fixture in tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

K2 = Path(sys.executable).parent / "k2"


def lake_verify(session: list[Path]) -> dict[str, Any]:
    """`k2 lake verify` against the endpoint and lake of the current environment."""
    result = subprocess.run(
        [str(K2), "lake", "verify", "--source", *map(str, session), "--json"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert result.stdout, result.stderr[-2000:]
    return {"exit": result.returncode, **json.loads(result.stdout)}


def assert_exactly_once(verified: dict[str, Any]) -> None:
    symbols = verified["symbols"]
    assert verified["exit"] == 0, symbols
    assert verified["ok"] is True
    assert all(s["missing"] == s["duplicated"] == s["unexpected"] == 0 for s in symbols), symbols

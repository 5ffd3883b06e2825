"""`k2` when its environment is wrong: one line with the cause and the fix, exit code 3."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from tests.support.cli import K2

pytestmark = pytest.mark.integration


def k2(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*K2, *args], capture_output=True, text=True, timeout=60,
                          check=False, env=env)  # fmt: skip


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_query_url_nobody_serves_is_named_with_the_fix():
    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = k2("query", "symbols", "--url", f"http://127.0.0.1:{port}")
    assert result.returncode == 3
    line = only_line(result)
    assert line.startswith(f"k2 query symbols: cannot reach http://127.0.0.1:{port} (")
    assert "k2 local up" in line


def test_no_endpoint_and_no_region_is_an_environment_error_not_a_traceback():
    bare = {k: v for k, v in os.environ.items()
            if not k.startswith("AWS_") and k != "K2_QUERY_URL"}  # fmt: skip
    bare["AWS_CONFIG_FILE"] = bare["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    result = k2("query", "symbols", env=bare)
    assert result.returncode == 3
    assert "no AWS region for Athena: set AWS_REGION" in only_line(result)
    local = k2("query", "symbols", "--engine", "local", env=bare)
    assert local.returncode == 3
    assert "AWS_ENDPOINT_URL" in only_line(local)


def test_a_taken_port_stops_k2_local_up_before_anything_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = k2("local", "up", "--port", str(port))
    assert result.returncode == 3
    line = only_line(result)
    assert line.startswith(f"k2 local up: port {port} is in use")
    assert "--port 0" in line

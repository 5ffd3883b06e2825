"""`k2 local up` as a user runs it: the stack stays up, the query function answers over HTTP
like a function URL, and Ctrl-C or SIGTERM stops everything cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from k2_devtools.local.endpoint import LOCAL_CREDENTIALS
from tests.support.cli import K2

pytestmark = pytest.mark.integration
TRADES_PER_SYMBOL = 1_500


def fetch(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for_urls(process: subprocess.Popen[str]) -> tuple[str, str]:
    """(query function URL, AWS endpoint URL) from the ready message."""
    assert process.stdout is not None
    url = None
    for line in process.stdout:
        if found := re.search(r"Query function: (http://127\.0\.0\.1:\d+)", line):
            url = found.group(1)
        if (found := re.search(r"AWS endpoint: (http://127\.0\.0\.1:\d+)", line)) and url:
            return url, found.group(1)
    raise AssertionError(f"k2 local up never became ready: {process.stderr}")


def committed_rows(endpoint: str) -> int:
    environment = os.environ | LOCAL_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint}
    stats = subprocess.run([*K2, "lake", "stats", "--json"],
                           capture_output=True, text=True, env=environment, timeout=60,
                           check=True)  # fmt: skip
    return sum(partition["rows"] for partition in json.loads(stats.stdout)["partitions"])


def wait_for_trades(url: str, expected: dict[str, int], timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        status, body = fetch(f"{url}/symbols")
        assert status == 200, body
        counts = {row["symbol"]: row["trades"] for row in body["rows"]}
        if counts == expected:
            return counts
        time.sleep(0.5)
    raise AssertionError(f"trades landed so far: {counts}")


# SIGTERM (what ECS and Docker send) in the default run; Ctrl-C's SIGINT in the slow tier.
@pytest.mark.parametrize(
    "stop_signal", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM]
)
def test_local_up_serves_queries_while_running_and_stops_cleanly(stop_signal):
    process = subprocess.Popen(
        [*K2, "local", "up", "--port", "0", "--speed", "0",
         "--symbols", "BTCUSDT,ETHUSDT", "--trades-per-symbol", str(TRADES_PER_SYMBOL),
         "--commit-every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url, endpoint = wait_for_urls(process)
        wait_for_trades(url, {"BTCUSDT": TRADES_PER_SYMBOL, "ETHUSDT": TRADES_PER_SYMBOL})
        if os.environ.get("GLUE_CATALOG") != "off":  # no Iceberg table without a catalog
            deadline = time.monotonic() + 60
            while committed_rows(endpoint) < 2 * TRADES_PER_SYMBOL and time.monotonic() < deadline:
                time.sleep(2.0)  # the committer's timer folds staging in; each look is a k2 process
            assert committed_rows(endpoint) == 2 * TRADES_PER_SYMBOL
        status, bars = fetch(f"{url}/ohlcv?symbols=ETHUSDT&start=2024-08-08&end=2024-08-10")
        assert status == 200
        assert sum(bar["trades"] for bar in bars["rows"]) == TRADES_PER_SYMBOL
        status, error = fetch(f"{url}/sql?sql=DROP%20TABLE%20trades")
        assert status == 400
        assert "only SELECT" in error["error"]

        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "stopped cleanly" in stdout
    assert "the replay is over and every trade forwarded" in stderr  # the connector stopped
    assert "reconnecting" not in stderr  # rather than knocking on a finished replay
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass  # the HTTP server is gone with the process

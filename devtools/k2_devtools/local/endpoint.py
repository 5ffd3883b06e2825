"""The embedded AWS-compatible endpoint: moto in server mode on a free loopback port, in a
process of its own.

It speaks the AWS HTTP APIs, so boto3, awswrangler and pyarrow's own S3 client all reach it
(in-process moto mocks only patch boto3). Its own process, not a thread of ours: moto's request
handling is pure Python, and in-process it took the GIL from the connector, the replay server
and the handlers it serves (k2 run, 150,000 trades over 1,500 symbols: the connector stage took
28.9 s with a thread, 20.2 s with a process). What it lacks, and how we route around it:
Lambda and event source mappings need Docker (handlers run in-process behind
k2_devtools.local.event_source); Athena executes nothing (queries run on the embedded engine
locally).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlparse

from k2_devtools.local.environment import scoped_environment

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


STARTUP_TIMEOUT_S = 60.0


@contextmanager
def embedded_endpoint() -> Iterator[str]:
    """Run a moto server process for the duration of the block; yields its URL. Each endpoint
    has its own state; `reset()` clears it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_serving(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the moto server exited at start (status {server.returncode})")
        try:
            moto_api(url, "/moto-api/reset")
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the moto server did not answer within {STARTUP_TIMEOUT_S:g} s")


def endpoint_environment(endpoint_url: str) -> AbstractContextManager[None]:
    """Point boto3, awswrangler and the handlers at `endpoint_url`, with dummy credentials
    unless real ones are set, for the length of a `with` block."""
    changes = {"AWS_ENDPOINT_URL": endpoint_url}
    changes |= {key: value for key, value in LOCAL_CREDENTIALS.items() if key not in os.environ}
    return scoped_environment(changes)


def reset(endpoint_url: str) -> None:
    """Drop all state of a moto server (between tests)."""
    moto_api(endpoint_url, "/moto-api/reset")


def moto_api(endpoint_url: str, path: str, body: Any = None) -> None:
    """POST to one of moto's own control APIs (reset, config, canned results)."""
    parsed = urlparse(endpoint_url)
    connection = http.client.HTTPConnection(parsed.netloc, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status not in (200, 201):
            raise RuntimeError(f"moto {path} failed: HTTP {response.status}")
    finally:
        connection.close()

"""The embedded AWS-compatible endpoint: moto in server mode on a free loopback port.

It speaks the AWS HTTP APIs, so boto3, awswrangler and pyarrow's own S3 client all reach it
(in-process moto mocks only patch boto3). What it lacks, and how we route around it: Lambda
and event source mappings need Docker (handlers run in-process behind
k2_devtools.local.event_source); Athena executes nothing (queries run on the embedded engine
locally).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlparse

from moto.server import ThreadedMotoServer

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


@contextmanager
def embedded_endpoint() -> Iterator[str]:
    """Run a moto server for the duration of the block; yields its URL. moto keeps its state
    per process, not per server: a second endpoint in this process sees the first one's
    resources until `reset()`."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


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

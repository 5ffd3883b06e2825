"""A fault-injecting HTTP proxy in front of the AWS endpoint (moto server or LocalStack).

Every client of the pipeline - boto3, pyarrow's and pyiceberg's S3 clients - points at the
proxy, so faults reach them the way a real service's would, without touching the code under
test:
- Kinesis throttling: a share of PutRecords entries is answered with
  ProvisionedThroughputExceededException and NOT forwarded (Kinesis stores no failed entry);
- a Kinesis outage: for a time window every PutRecords/PutRecord call gets HTTP 503;
- S3 5xx: a share of S3 writes (PUT, POST) is answered with 500 InternalError, not forwarded;
- an endpoint restart: for a time window every request of every service is dropped unanswered
  (its state survives, as a real service's does).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

from tests.support.flaky_kinesis import throttled_answer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer",
              "upgrade", "proxy-authorization", "proxy-authenticate"}  # fmt: skip
OUTAGE_ERROR = b'{"__type":"ServiceUnavailableException","message":"injected outage"}'
S3_ERROR = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error (injected). Please try again.</Message>"
            b"</Error>")  # fmt: skip


@dataclass
class FaultPlan:
    kinesis_throttle_fraction: float = 0.0
    kinesis_outage_after_s: float | None = None
    kinesis_outage_s: float = 0.0
    s3_write_error_fraction: float = 0.0
    endpoint_down_after_s: float | None = None  # every request, every service: dropped
    endpoint_down_s: float = 0.0
    seed: int = 7


@dataclass
class FaultStats:
    throttled_entries: int = 0
    refused_puts: int = 0
    s3_write_errors: int = 0
    dropped_while_down: int = 0
    forwarded: int = 0


class FaultProxy:
    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        self.upstream, self.plan, self.stats = urlparse(upstream).netloc, plan, FaultStats()
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.kinesis_switched_off = False  # a test's own outage, for as long as it says

    def chance(self, fraction: float) -> bool:
        with self._lock:
            return self._rng.random() < fraction

    def kinesis_down(self) -> bool:
        planned = self._within(self.plan.kinesis_outage_after_s, self.plan.kinesis_outage_s)
        return planned or self.kinesis_switched_off

    def endpoint_down(self) -> bool:
        return self._within(self.plan.endpoint_down_after_s, self.plan.endpoint_down_s)

    def _within(self, after: float | None, duration: float) -> bool:
        elapsed = time.monotonic() - self._started
        return after is not None and after <= elapsed < after + duration


@contextmanager
def fault_proxy(upstream: str, plan: FaultPlan) -> Iterator[tuple[str, FaultProxy]]:
    """Serve the proxy on a free loopback port for the block; yields (url, proxy)."""
    proxy = FaultProxy(upstream, plan)
    handler = type("Handler", (_Handler,), {"proxy": proxy})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 1.0  # an idle keep-alive connection ends its thread within a second
    proxy: FaultProxy

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: thousands of requests per run."""

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        body = self._body()
        target = self.headers.get("X-Amz-Target", "")
        proxy = self.proxy
        if proxy.endpoint_down():  # as a restarting service: the connection just closes
            proxy.stats.dropped_while_down += 1
            self.close_connection = True
            return
        if target.endswith((".PutRecords", ".PutRecord")) and proxy.kinesis_down():
            proxy.stats.refused_puts += 1
            self._reply(503, OUTAGE_ERROR, "application/x-amz-json-1.1")
            return
        if target.endswith(".PutRecords") and proxy.plan.kinesis_throttle_fraction:
            self._put_records_throttled(body)
            return
        is_s3_write = (
            not target and self.command in ("PUT", "POST") and "/moto-api" not in self.path
        )
        if is_s3_write and proxy.chance(proxy.plan.s3_write_error_fraction):
            proxy.stats.s3_write_errors += 1
            self._reply(500, S3_ERROR, "application/xml")
            return
        status, headers, answer = self._forward(body)
        self._reply(status, answer, headers=headers)

    def _put_records_throttled(self, body: bytes) -> None:
        request = json.loads(body)
        records = request["Records"]
        failing = {i for i in range(len(records))
                   if self.proxy.chance(self.proxy.plan.kinesis_throttle_fraction)}  # fmt: skip
        passed = [r for i, r in enumerate(records) if i not in failing]
        stored: list[dict[str, Any]] = []
        if passed:
            status, headers, answer = self._forward(
                json.dumps({**request, "Records": passed}).encode()
            )
            if status != 200:
                self._reply(status, answer, headers=headers)
                return
            stored = json.loads(answer)["Records"]
        self.proxy.stats.throttled_entries += len(failing)
        answer_body = json.dumps(throttled_answer(len(records), failing, stored)).encode()
        self._reply(200, answer_body, "application/x-amz-json-1.1")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.proxy.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            self.proxy.stats.forwarded += 1
            kept = [(k, v) for k, v in response.getheaders()
                    if k.lower() not in HOP_BY_HOP or k.lower() == "content-length"]  # fmt: skip
            if not any(k.lower() == "content-length" for k, _ in kept):
                kept.append(("Content-Length", str(len(answer))))
            return response.status, kept, answer
        finally:
            connection.close()

    def _reply(self, status: int, body: bytes, content_type: str | None = None,
               headers: list[tuple[str, str]] | None = None) -> None:  # fmt: skip
        """Send a response; `headers` (from upstream) carry their own Content-Length, which
        for HEAD is the object's size, not this empty body's."""
        self.send_response(status)
        if headers is None:
            headers = [("Content-Type", content_type or "text/plain"),
                       ("Content-Length", str(len(body)))]  # fmt: skip
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

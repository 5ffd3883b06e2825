"""No single query or client takes the local query function down. Served as `k2 local up`
serves it (waitress in front, each query in one of two worker processes under a memory limit
and a deadline), on a moto lake: a query that eats CPU ends 504 at its limit, one that eats
memory ends 413 in its worker, an answer over 6 MB is 413, bad HTTP framing is 400/411, and
500 half-open connections hold no thread - while /symbols keeps answering from the other
worker and this process stays small."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from k2.config import LakeSettings
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.function_url import FunctionUrlServer
from k2_devtools.local.lambda_context import LocalLambdaContext
from normalize.handler import lambda_handler as normalize
from query import handler
from tests.support.events import kinesis_event
from tests.support.frames import frame
from tests.support.lake_files import create_lake

pytestmark = [pytest.mark.integration, pytest.mark.replaces_workers, pytest.mark.timeout(180)]
HOST_RSS_CAP_MB = 1_500  # this process: the stack's host, never the query's
TIMEOUT_S = 8  # room for the memory-eater to reach its limit first on a loaded machine
WORKER_ENV = {"QUERY_ENGINE": "local", "QUERY_WORKERS": "2", "QUERY_WORKER_MEMORY_MB": "3072",
              "QUERY_TIMEOUT_SECONDS": str(TIMEOUT_S)}  # fmt: skip


@pytest.fixture(scope="module")
def query_url(moto_server: str) -> Iterator[str]:
    """The query function on localhost over a lake of 3,000 trades."""
    with scoped_environment(
        {"AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing",
         "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
         "LAKE_BUCKET": "k2-bounds", "POWERTOOLS_METRICS_DISABLED": "true",
         "POWERTOOLS_LOG_LEVEL": "WARNING", **WORKER_ENV}
    ):  # fmt: skip
        lake = LakeSettings.from_env()
        create_lake(lake)
        frames = [frame("spot_trade", t=i, p=f"{100 + i % 50}.00000000") for i in range(3_000)]
        assert normalize(kinesis_event(frames), LocalLambdaContext("n")) == {
            "batchItemFailures": []
        }
        try:
            with FunctionUrlServer(handler.lambda_handler, "query") as server:
                yield server.url
        finally:
            handler.close_engines()


@pytest.fixture(autouse=True)
def workers_started(query_url: str) -> None:
    """Each test starts with both workers up (the one a previous test killed replaced)."""
    assert handler.warm_up()


def get(url: str, path: str, **params: str) -> tuple[int, Any, float]:
    started = time.monotonic()
    target = f"{url}/{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(target, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.read(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read(), time.monotonic() - started


def sql(url: str, statement: str) -> tuple[int, Any, float]:
    return get(url, "sql", sql=statement)


def while_running(url: str, hostile: str) -> tuple[tuple[int, Any, float], list[float]]:
    """Run a hostile statement; meanwhile ask /symbols every half second."""
    answers: list[tuple[int, Any, float]] = []
    runner = threading.Thread(target=lambda: answers.append(sql(url, hostile)))
    runner.start()
    meanwhile = []
    while runner.is_alive():
        status, _, took = get(url, "symbols")
        assert status == 200
        meanwhile.append(took)
        time.sleep(0.5)
    runner.join()
    return answers[0], meanwhile


def host_rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def test_a_query_that_eats_cpu_ends_504_at_its_limit_while_others_are_answered(query_url):
    (status, body, took), meanwhile = while_running(
        query_url,
        "SELECT count(*) AS n FROM trades a, trades b, trades c WHERE a.price + b.price > c.price",
    )
    assert status == 504, body
    assert took < TIMEOUT_S + 3  # the limit, and killing a worker that ignored it
    assert meanwhile
    assert max(meanwhile) < TIMEOUT_S / 2  # answered long before the hostile query ends
    assert host_rss_mb() < HOST_RSS_CAP_MB


def test_a_query_that_eats_memory_ends_413_in_its_worker(query_url):
    hostile = ("SELECT count(*) AS n FROM (SELECT DISTINCT a.trade_id || b.trade_id || c.trade_id "
               "FROM trades a, trades b, trades c)")  # fmt: skip
    (status, body, _), meanwhile = while_running(query_url, hostile)
    assert status == 413, body
    assert json.loads(body)["error"]
    assert not meanwhile or max(meanwhile) < TIMEOUT_S / 2
    assert host_rss_mb() < HOST_RSS_CAP_MB


def test_an_answer_over_6_mb_is_413_not_sent(query_url):
    status, body, _ = sql(
        query_url, "SELECT a.*, b.trade_id AS other FROM trades a, trades b LIMIT 60000"
    )
    assert status == 413
    assert "6 MB" in json.loads(body)["error"]
    assert host_rss_mb() < HOST_RSS_CAP_MB


def raw_request(url: str, data: bytes) -> bytes:
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=15) as connection:
        connection.sendall(data)
        return connection.recv(200)


def test_bad_framing_is_refused_and_half_open_connections_hold_no_thread(query_url):
    assert raw_request(query_url, b"POST /sql HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
                       + b"x" * 100).startswith(b"HTTP/1.1 400")  # fmt: skip
    assert raw_request(query_url, b"POST /sql HTTP/1.1\r\nHost: x\r\n\r\nSELECT 1").startswith(
        b"HTTP/1.1 411"
    )
    assert raw_request(query_url, b"POST /sql HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 7000000\r\n\r\n").startswith(b"HTTP/1.1 413")  # fmt: skip
    host, port = urllib.parse.urlsplit(query_url).netloc.split(":")
    threads_before = threading.active_count()
    half_open = [socket.create_connection((host, int(port))) for _ in range(500)]
    try:
        for connection in half_open:
            connection.sendall(b"GET /symbols HTTP/1.1\r\nHost:")
        status, _, took = get(query_url, "symbols")
        # answered while all 500 still hang: before the server's 10 s channel timeout could
        # have freed anything (a thread per connection would leave no thread to answer)
        assert (status, took < 5) == (200, True)
        assert threading.active_count() <= threads_before + 2
    finally:
        for connection in half_open:
            connection.close()

"""The connector as a process: health endpoints, SIGTERM mid-stream, restart resumes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from k2.binance.generator import generate_frames
from k2_devtools.local.endpoint import free_port
from tests.support.connector_harness import delivered_ids, expected_ids
from tests.support.fault_proxy import FaultPlan, fault_proxy
from tests.support.streams import read_stream, read_stream_by_market

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
BIN = Path(sys.executable).parent
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
TRADES, SEED = 1_500, 23


@contextlib.contextmanager
def replay_process(market: str = "spot") -> Iterator[str]:
    """A replay server of generated SYMBOLS trades on `market`, in a process; its ws URL."""
    process = subprocess.Popen(
        [BIN / "k2-replay-server", "--generate", ",".join(SYMBOLS), "--trades", str(TRADES),
         "--seed", str(SEED), "--speed", "15", "--market", market],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # "listening ws://127.0.0.1:PORT (REST http://...)"
    try:
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def replay_server():
    with replay_process() as url:
        yield url


def start_connector(
    ws_url: str,
    endpoint: str,
    stream: str,
    journal: Path,
    port: int,
    *extra: str,
    rest_url: str | None = None,
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.Popen(
        [
            BIN / "k2-connector",
            "--symbols",
            ",".join(SYMBOLS),
            "--stream-name",
            stream,
            "--endpoint-url",
            endpoint,
            "--ws-url",
            ws_url,
            "--rest-url",
            rest_url or ws_url.replace("ws://", "http://"),
            "--journal-dir",
            str(journal),
            "--health-port",
            str(port),
            "--no-data-timeout-s",
            "2",
            "--log-level",
            "WARNING",
            *extra,
        ],
        env=env,
    )


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except urllib.error.URLError:
        return 0, ""  # not listening yet


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def kinesis_stream(moto_server):
    """A one-shard stream of its own (the endpoint may be shared: LocalStack)."""
    kinesis = boto3.client(
        "kinesis", endpoint_url=moto_server, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    stream = f"process-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    return kinesis, stream


def test_sigterm_mid_stream_loses_nothing_and_a_restart_resumes(
    replay_server, moto_server, kinesis_stream, tmp_path
):
    kinesis, stream = kinesis_stream
    want = expected_ids(list(generate_frames(SYMBOLS, TRADES, seed=SEED)))
    port = free_port()

    first = start_connector(replay_server, moto_server, stream, tmp_path, port)
    assert wait_for(lambda: http_get(port, "/health")[0] == 200, 15)
    assert wait_for(lambda: http_get(port, "/ready")[0] == 200, 15)
    time.sleep(2)  # mid-stream
    metrics = http_get(port, "/metrics")[1]
    assert "k2_connector_frames_forwarded_total" in metrics
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0  # drained: buffer and journal delivered
    landed_at_stop = delivered_ids(read_stream(kinesis, stream))
    assert 0 < sum(map(len, landed_at_stop.values())) < sum(map(len, want.values()))

    second = start_connector(replay_server, moto_server, stream, tmp_path, port)

    def complete() -> bool:
        got = delivered_ids(read_stream(kinesis, stream))
        return all(len(set(got.get(s, []))) == len(ids) for s, ids in want.items())

    try:
        assert wait_for(complete, 90)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    got = delivered_ids(read_stream(kinesis, stream))
    for symbol, ids in want.items():
        assert sorted(got[symbol]) == sorted(ids), symbol  # nothing lost, nothing twice


def test_sigterm_during_a_kinesis_outage_journals_everything_and_a_restart_delivers_it(
    replay_server, moto_server, kinesis_stream, tmp_path
):
    """Kinesis unreachable, frames piling up in memory, then SIGTERM: the process exits within
    its drain deadline with the buffer fsynced to the journal and the resume points saved; a
    restart (Kinesis back) delivers the journal, fetches what it missed, and every trade id is
    in Kinesis exactly once."""
    kinesis, stream = kinesis_stream
    want = expected_ids(list(generate_frames(SYMBOLS, TRADES, seed=SEED)))
    port = free_port()
    with fault_proxy(moto_server, FaultPlan()) as (proxy_url, proxy):
        first = start_connector(replay_server, proxy_url, stream, tmp_path, port,
                                "--drain-deadline-s", "3")  # fmt: skip
        assert wait_for(lambda: http_get(port, "/ready")[0] == 200, 15)
        proxy.kinesis_switched_off = True
        time.sleep(2)  # trades keep coming; Kinesis takes none of them
        signalled = time.monotonic()
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 1  # not drained: the rest is in the journal
        assert time.monotonic() - signalled < 3 + 5  # the deadline, and a put in flight
        assert (tmp_path / "journal.bin").stat().st_size > 0
        assert proxy.stats.refused_puts > 0
        proxy.kinesis_switched_off = False
        second = start_connector(replay_server, proxy_url, stream, tmp_path, port)

        def complete() -> bool:
            got = delivered_ids(read_stream(kinesis, stream))
            return all(len(set(got.get(s, []))) == len(ids) for s, ids in want.items())

        try:
            assert wait_for(complete, 90)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0
    got = delivered_ids(read_stream(kinesis, stream))
    for symbol, ids in want.items():
        assert sorted(got[symbol]) == sorted(ids), symbol  # nothing lost, nothing twice


def test_one_process_captures_spot_and_usd_m_side_by_side_and_stops_both(
    moto_server, kinesis_stream, tmp_path
):
    """`--market spot,usdm`: one connector per market in one process. BTCUSDT trades of both
    markets (the same ids) reach Kinesis under their own markets' keys, each exactly once -
    but for USD-M insurance-fund or ADL trades the websocket missed (a reconnect under load),
    which futures REST never serves and the USD-M gap log records as unfillable; /metrics
    labels each market's series; one SIGTERM drains both."""
    kinesis, stream = kinesis_stream
    port = free_port()
    frames = {m: list(generate_frames(SYMBOLS, TRADES, seed=SEED, market=m))
              for m in ("spot", "usdm")}  # fmt: skip
    want = {market: expected_ids(own, market) for market, own in frames.items()}
    unservable = {(data["s"], data["t"]) for data in map(_data, frames["usdm"])
                  if data.get("X", "MARKET") != "MARKET"}  # fmt: skip

    def missing() -> dict[str, set[tuple[str, int]]]:
        got = read_stream_by_market(kinesis, stream)
        gone = {}
        for market, by_symbol in want.items():
            delivered = delivered_ids(got.get(market, []), market)
            gone[market] = {(s, i) for s, ids in by_symbol.items()
                            for i in set(ids) - set(delivered.get(s, []))}  # fmt: skip
        return gone

    def complete() -> bool:
        gone = missing()
        return (
            not gone["spot"]
            and gone["usdm"] <= unservable
            and (len(gone["usdm"]) == _unfillable(tmp_path / "usdm" / "gaps.jsonl"))
        )

    with replay_process("spot") as spot, replay_process("usdm") as usdm:
        urls = {"spot": spot, "usdm": usdm}
        ws = ";".join(f"{m}={url}" for m, url in urls.items())
        rest = ";".join(f"{m}={url.replace('ws://', 'http://')}" for m, url in urls.items())
        process = start_connector(ws, moto_server, stream, tmp_path, port, "--market",
                                  "spot,usdm", "--rest-weight-per-minute", "1000",
                                  rest_url=rest)  # fmt: skip
        try:
            assert wait_for(lambda: http_get(port, "/ready")[0] == 200, 20)
            # Under full-suite load a market's puts to the shared moto server can lag behind
            # the replay (its sink backs off); SIGTERM then delivers what is left.
            wait_for(complete, 60)
            metrics = http_get(port, "/metrics")[1]
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0  # both markets drained
    assert complete(), missing()  # every trade, once, after the stop's drain at the latest
    assert 'k2_connector_frames_forwarded_total{market="spot"}' in metrics
    assert 'k2_connector_frames_forwarded_total{market="usdm"}' in metrics
    assert 'k2_connector_rest_weight_per_minute{market="usdm"} 1000' in metrics  # per market
    got = read_stream_by_market(kinesis, stream)
    for market, by_symbol in want.items():
        delivered = delivered_ids(got[market], market)
        for symbol in by_symbol:
            assert len(delivered[symbol]) == len(set(delivered[symbol])), (market, symbol)
    assert want["spot"]["BTCUSDT"] == want["usdm"]["BTCUSDT"]  # the same ids, two markets
    assert (tmp_path / "resume.json").exists()  # the first market keeps the journal directory
    assert (tmp_path / "usdm" / "resume.json").exists()  # the next one its own subdirectory


def _data(recorded) -> dict:
    return json.loads(recorded.frame).get("data", {})


def _unfillable(gap_log: Path) -> int:
    """Trade ids the gap log's final records say REST will never serve."""
    if not gap_log.exists():
        return 0
    final = {}
    for entry in map(json.loads, gap_log.read_text().splitlines()):
        final[entry["symbol"], entry["first_id"]] = entry
    return sum(entry.get("unserved", 0) for entry in final.values())

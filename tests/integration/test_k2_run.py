"""`k2 run`, the main job, as a user runs it: a subprocess on an embedded endpoint."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from k2.binance.generator import generate_frames
from k2.binance.recording import write_recording
from k2_devtools.local.endpoint import free_port
from tests.support.cli import K2

pytestmark = pytest.mark.integration


def k2(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*K2, *args], capture_output=True, text=True, timeout=300, check=False)


def test_default_run_lands_every_generated_trade_and_prints_a_summary():
    result = k2("run", "--trades-per-symbol", "400")
    assert result.returncode == 0, result.stderr
    assert "OK: every trade landed exactly once" in result.stdout
    assert "OHLCV 1m" in result.stdout
    assert "normalize" in result.stderr  # progress goes to stderr


def test_json_summary_for_recordings_it_has_never_seen_of_three_markets(tmp_path: Path):
    """A spot recording with a broken line, and USD-M and COIN-M recordings; spot and USD-M
    BTCUSDT share every trade id. Each market gets its own replay host, connector and
    instrument key, and its own counts and bars; the broken frame is accounted for."""
    sources = {
        "spot": generate_frames(["SOLUSDT", "BTCUSDT"], 500, seed=4),
        "usdm": generate_frames(["BTCUSDT"], 500, seed=4, market="usdm"),
        "coinm": generate_frames(["BTCUSD_PERP"], 500, seed=4, market="coinm"),
    }
    for market, frames in sources.items():
        with (tmp_path / f"{market}.txt").open("wb") as out:
            write_recording(frames, out)
            if market == "spot":
                out.write(b"1723161255000000000 {this frame is broken\n")
    recordings = [str(tmp_path / f"{market}.txt") for market in sources]
    result = k2("run", "--replay", *recordings, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert report["ok"] is True
    assert report["lost"] == 0
    assert report["rejected_in_source"] == report["dead_letters"] == 1
    landed = {s["symbol"]: (s["expected"], s["landed_rows"]) for s in report["symbols"]}
    assert landed == dict.fromkeys(
        ["BTCUSDT", "SOLUSDT", "usdm:BTCUSDT", "coinm:BTCUSD_PERP"], (500, 500)
    )
    assert {s["symbol"] for s in report["lake_symbols"]} == set(landed)
    bar_trades: dict[str, int] = {}
    for bar in report["bars"]:
        bar_trades[bar["symbol"]] = bar_trades.get(bar["symbol"], 0) + bar["trades"]
    assert bar_trades["BTCUSDT"] == 500  # spot's bars alone (bars come sorted by instrument)
    assert "(usdm)" in report["source"]
    assert "(coinm)" in report["source"]


def test_missing_recording_is_a_clear_error():
    result = k2("run", "--replay", "/nonexistent/file.gz")
    assert result.returncode == 2
    assert "no such recording" in result.stderr


def test_live_mode_reconciles_what_the_connector_sent_for_the_duration():
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "k2-replay-server"), "--generate", "BTCUSDT,ETHUSDT",
         "--trades", "5000", "--speed", "5", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port)
        result = k2("run", "--live", "--ws-url", f"ws://127.0.0.1:{port}",
                    "--rest-url", f"http://127.0.0.1:{port}", "--symbols", "BTCUSDT,ETHUSDT",
                    "--duration", "3", "--json")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"].startswith(f"live: ws://127.0.0.1:{port}")
    assert report["ok"] is True
    landed = {s["symbol"]: s["landed_distinct"] for s in report["symbols"]}
    assert set(landed) == {"BTCUSDT", "ETHUSDT"}
    assert all(count > 0 for count in landed.values())
    assert sum(landed.values()) == report["connector"]["frames_forwarded"]


def _wait_for_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")

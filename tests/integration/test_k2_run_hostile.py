"""`k2 run` on inputs it has never seen, as a user runs it: seeded hostile recordings (malformed
frames, duplicate bursts, re-sent ranges, an id absent from the source, a file cut mid-frame),
a signal mid-run, and a source without a single trade. Each ends in bounded time with a
summary whose counts are exactly what the recording holds."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from k2.binance.generator import generate_frames
from k2.binance.recording import write_recording
from tests.support.cli import K2
from tests.support.hostile import hostile_session

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def k2_run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run([*K2, "run", *args, "--json"], capture_output=True, text=True,
                            timeout=150, check=False)  # fmt: skip
    return result, time.monotonic() - started


@pytest.mark.parametrize("seed", [3, pytest.param(8, marks=pytest.mark.slow)])
def test_a_hostile_recording_lands_every_genuine_trade_once_and_accounts_for_the_rest(
    tmp_path: Path, seed: int
):
    session = hostile_session(tmp_path, seed, trades_per_symbol=1_500)
    expected = session.expected
    result, took_s = k2_run("--replay", str(session.path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert took_s < 120
    report = json.loads(result.stdout)
    # the Iceberg table; without a Glue catalog (LocalStack community), the staging files
    lake = {s["symbol"]: s for s in report["lake_symbols"] or report["symbols"]}
    for symbol, ids in expected.trade_ids.items():
        assert (lake[symbol]["expected"], lake[symbol]["landed_distinct"]) == (len(ids), len(ids))
        assert lake[symbol]["landed_rows"] == len(ids)  # once each
    assert report["dead_letters_by_reason"] == dict(sorted(expected.dead_letters.items()))
    assert report["connector"]["duplicates"] == expected.duplicate_frames
    assert report["gaps"] == {"absent_from_source": 1, "unfilled_by_rest": 0}


def test_sigterm_in_the_middle_of_a_run_stops_it_within_seconds_with_a_summary(tmp_path: Path):
    process = subprocess.Popen(
        [*K2, "run", "--trades-per-symbol", "20000", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    while "connector" not in (process.stderr.readline() or "connector"):
        pass  # the connector stage has begun
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=60)
    assert time.monotonic() - signalled < 10
    assert process.returncode == 1
    report = json.loads(stdout)
    assert report["stopped"] == "SIGTERM during connector"
    assert report["ok"] is False


def test_a_source_without_a_single_trade_ends_in_a_summary_not_a_traceback(tmp_path: Path):
    recording = tmp_path / "quotes.rec"
    frames = [f for f in generate_frames(["BTCUSDT"], 200, seed=5) if b"@trade" not in f.frame]
    with recording.open("wb") as out:
        write_recording(frames, out)
        out.write(b"1723161255000000000 {broken\n")
    result, _ = k2_run("--replay", str(recording))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert report["stopped"] == "the source holds no trade: nothing to subscribe to"
    assert report["trade_frames"] == 0

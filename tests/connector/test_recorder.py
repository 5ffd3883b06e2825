"""`k2 record` writes what the websocket sends, in the replayable recording format."""

from __future__ import annotations

import asyncio

import pytest

from k2.binance.generator import generate_frames
from k2.binance.recording import read_recording
from k2_connector.recorder import record
from k2_devtools.replay_server import ReplayServer

pytestmark = pytest.mark.integration


def test_recording_a_replay_reproduces_its_frames(tmp_path):
    frames = list(generate_frames(["BTCUSDT", "ETHUSDT"], 300, seed=5))
    trades = [f.frame for f in frames if b"@trade" in f.frame]

    async def scenario() -> int:
        async with ReplayServer(frames, speed=0) as server:
            return await record(["BTCUSDT", "ETHUSDT"], server.url, tmp_path / "rec", duration_s=3)

    assert asyncio.run(scenario()) == len(trades)
    (day_file,) = tmp_path.glob("rec-*.gz")
    recorded = list(read_recording(day_file))
    assert [r.frame for r in recorded] == trades
    assert all(r.receive_ns > 1_700_000_000 * 10**9 for r in recorded)

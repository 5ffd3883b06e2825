"""The deterministic frame generator speaks Binance's exact wire format."""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import pytest

from k2.binance.frames import _fast_spot_trades, parse_frames
from k2.binance.generator import generate_frames, whole_market_frames
from k2.binance.recording import read_recording, read_recordings, write_recording

pytestmark = pytest.mark.unit


def test_same_seed_same_frames_other_seed_other_frames():
    first = list(generate_frames(["BTCUSDT", "ETHUSDT"], 300, seed=1))
    assert first == list(generate_frames(["BTCUSDT", "ETHUSDT"], 300, seed=1))
    assert first != list(generate_frames(["BTCUSDT", "ETHUSDT"], 300, seed=2))


def test_trade_ids_are_contiguous_per_symbol_and_receive_times_ordered():
    frames = list(generate_frames(["BTCUSDT", "1000PEPEUSDT", "DOGETRY"], 1_000, seed=3))
    assert [f.receive_ns for f in frames] == sorted(f.receive_ns for f in frames)
    trades = parse_frames([f.frame for f in frames]).trades
    for symbol in ("BTCUSDT", "1000PEPEUSDT", "DOGETRY"):
        ids = [i for s, i in zip(trades["symbol"].to_pylist(), trades["source_id"].to_pylist(),
                                 strict=True) if s == symbol]  # fmt: skip
        assert ids == list(range(ids[0], ids[0] + 1_000))


def test_every_generated_trade_matches_the_exact_binance_layout():
    import pyarrow as pa

    frames = [f.frame for f in generate_frames(["BTCUSDT", "ETHUSDT"], 500, seed=4)]
    trade_frames = [f for f in frames if b"@trade" in f]
    all_spot = np.ones(len(trade_frames), bool)
    _, matched = _fast_spot_trades(pa.array(trade_frames, pa.binary()), all_spot)
    assert matched.all()  # the strict Binance field order and formatting
    parsed = parse_frames(frames)
    assert parsed.rejections == []
    assert {n.kind for n in parsed.non_trades} == {"bookTicker"}


def test_written_recordings_read_back_identically(tmp_path):
    frames = list(generate_frames(["BTCUSDT"], 100, seed=5))
    buffer = io.BytesIO()
    assert write_recording(frames, buffer) == len(frames)
    path = tmp_path / "rec.txt"
    path.write_bytes(buffer.getvalue())
    assert list(read_recording(path)) == frames


def test_several_recordings_replay_interleaved_in_receive_time(tmp_path):
    btc = list(generate_frames(["BTCUSDT"], 200, seed=6))
    eth = list(generate_frames(["ETHUSDT"], 200, seed=6))
    paths = []
    for name, frames in (("btc", btc), ("eth", eth)):
        buffer = io.BytesIO()
        write_recording(frames, buffer)
        paths.append(tmp_path / name)
        paths[-1].write_bytes(buffer.getvalue())
    merged = list(read_recordings(paths))
    assert sorted(merged, key=lambda f: f.receive_ns) == merged
    assert len(merged) == len(btc) + len(eth)


def test_a_whole_market_session_is_heavy_tailed_and_contiguous_per_symbol():
    frames = list(whole_market_frames(symbols=1_500, seconds=20, seed=3))
    counts: Counter[str] = Counter()
    ids: dict[str, list[int]] = {}
    for recorded in frames:
        if b"@trade" in recorded.frame:
            data = json.loads(recorded.frame)["data"]
            counts[data["s"]] += 1
            ids.setdefault(data["s"], []).append(data["t"])
    busiest = counts.most_common(10)
    assert busiest[0][1] / 20 > 100  # hundreds of trades a second at the top
    assert sum(n for _, n in busiest) > 0.4 * sum(counts.values())  # a few carry most trades
    assert len(counts) > 750  # half the market trades within 20 s
    assert sum(1 for n in counts.values() if n <= 2) > 100  # and a long tail barely does
    assert all(v == list(range(v[0], v[0] + len(v))) for v in ids.values())
    receive = [recorded.receive_ns for recorded in frames]
    assert receive == sorted(receive)

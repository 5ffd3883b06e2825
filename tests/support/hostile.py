"""Seeded hostile recordings: a generated session with what real feeds and attackers add.

Into a generated two-symbol session (trades, bookTicker, depth) a seed decides where to put:
- malformed frames, about 2 %, each made to fail for one known reason (truncated JSON, bytes
  that are not UTF-8, a missing or mistyped field, a bad decimal, a zero price, an impossible
  trade time, an unknown event, a futures-shaped trade on the spot stream);
- duplicate bursts (a run of trades sent twice in a row) and re-sent ranges (a run of older
  trades sent again later), byte for byte;
- one trade id absent from the source altogether (nobody, REST included, can deliver it);
- a last line cut mid-frame, as a recorder killed mid-write leaves it.

`HostileSession.expected` says what a correct pipeline must report for it: the genuine trade
ids per symbol, the absent id, the duplicate frames, the dead letters per reject code.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from k2.binance.generator import generate_frames
from k2.binance.recording import RecordedFrame
from k2.domain.rejects import RejectReason
from tests.support.frames import frame as sample_frame

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@dataclass
class Expected:
    trade_ids: dict[str, set[int]]  # every genuine id, each once
    absent: dict[str, int]  # per symbol, the id missing from the source
    duplicate_frames: int  # identical re-sends of genuine trades the connector must drop
    dead_letters: Counter[str] = field(default_factory=Counter)  # reject code -> frames

    @property
    def trades(self) -> int:
        return sum(map(len, self.trade_ids.values()))


@dataclass
class HostileSession:
    path: Path
    expected: Expected


def hostile_frame(kind: str, symbol: str, trade_id: int, rng: random.Random) -> bytes:
    """A frame on `symbol`'s trade stream that fails for exactly one reason (`HOSTILE`)."""
    stamp = 1_723_161_255_342
    base = {"s": symbol, "t": trade_id, "E": stamp + 1, "T": stamp}
    if kind == "truncated":
        return sample_frame("spot_trade", **base)[: rng.randint(10, 120)]
    if kind == "not_utf8":
        return sample_frame("spot_trade", **base).replace(b'"e":"trade"', b'"e":"tr\xff\xfe"')
    variants: dict[str, dict[str, object]] = {
        "missing_price": {"p": None},
        "mistyped_id": {"t": str(trade_id)},
        "bad_decimal": {"q": "1e-5"},
        "zero_price": {"p": "0.00000000"},
        "year_5138": {"T": 99_999_999_999_999},
        "unknown_event": {"e": "trades"},
        "futures_shaped": {"M": None, "X": "MARKET"},
    }
    return sample_frame("spot_trade", **base | variants[kind])


HOSTILE: dict[str, RejectReason] = {
    "truncated": RejectReason.INVALID_JSON,
    "not_utf8": RejectReason.NOT_UTF8,
    "missing_price": RejectReason.MISSING_FIELD,
    "mistyped_id": RejectReason.WRONG_TYPE,
    "bad_decimal": RejectReason.BAD_DECIMAL,
    "zero_price": RejectReason.NOT_POSITIVE,
    "year_5138": RejectReason.IMPLAUSIBLE_TIME,
    "unknown_event": RejectReason.UNKNOWN_EVENT,
    "futures_shaped": RejectReason.MISSING_FIELD,  # no spot M: never relabelled as futures
}


def hostile_session(
    directory: Path, seed: int, trades_per_symbol: int = 2_500, hostile_share: float = 0.02
) -> HostileSession:
    """Write a hostile recording (plain text, its last line cut) and what it must yield."""
    rng = random.Random(seed)
    clean = list(generate_frames(list(SYMBOLS), trades_per_symbol, seed=seed))
    trades = [(i, f) for i, f in enumerate(clean) if b'"e":"trade"' in f.frame]
    absent_index, absent_frame = trades[rng.randrange(len(trades) // 4, len(trades) * 3 // 4)]
    absent_symbol, absent_id = _symbol_and_id(absent_frame.frame)
    expected = Expected(
        trade_ids={symbol: set() for symbol in SYMBOLS},
        absent={absent_symbol: absent_id},
        duplicate_frames=0,
    )
    out: list[RecordedFrame] = []
    genuine: list[RecordedFrame] = []  # the trades sent so far, for re-sending
    for index, recorded in enumerate(clean):
        if index == absent_index:
            continue
        out.append(recorded)
        if b'"e":"trade"' in recorded.frame:
            symbol, trade_id = _symbol_and_id(recorded.frame)
            expected.trade_ids[symbol].add(trade_id)
            genuine.append(recorded)
        if rng.random() < hostile_share:
            kind = rng.choice(sorted(HOSTILE))
            symbol = rng.choice(SYMBOLS)
            raw = hostile_frame(kind, symbol, rng.randrange(1, 10**9), rng)
            out.append(RecordedFrame(recorded.receive_ns, raw))
            expected.dead_letters[HOSTILE[kind].value] += 1
        if rng.random() < 0.004:  # a burst: the last few trades again, at once
            burst = genuine[-rng.randint(2, 8) :]
            out += [RecordedFrame(recorded.receive_ns, f.frame) for f in burst]
            expected.duplicate_frames += len(burst)
    resent = genuine[len(genuine) // 3 : len(genuine) // 3 + rng.randint(20, 60)]
    last_ns = out[-1].receive_ns
    out += [RecordedFrame(last_ns, f.frame) for f in resent]  # a range sent again, later
    expected.duplicate_frames += len(resent)
    cut = sample_frame("spot_trade", t=1)[:57]  # the recorder died mid-write
    expected.dead_letters[RejectReason.INVALID_JSON.value] += 1
    path = directory / f"hostile-{seed}.rec"
    with path.open("wb") as file:
        for recorded in out:
            file.write(b"%d %s\n" % (recorded.receive_ns, recorded.frame))
        file.write(b"%d %s" % (last_ns, cut))  # no newline: the file ends mid-frame
    return HostileSession(path, expected)


def _symbol_and_id(raw: bytes) -> tuple[str, int]:
    symbol = raw.split(b'"s":"', 1)[1].split(b'"', 1)[0].decode()
    trade_id = int(raw.split(b'"t":', 1)[1].split(b",", 1)[0])
    return symbol, trade_id

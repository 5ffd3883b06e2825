"""Deterministic Binance frames in the exact wire format, for fresh clones and tests.

Same seed, same frames. Each symbol gets a price random walk on its tick size, trade arrivals
that switch between calm and burst regimes (the recorded BTCUSDT session has a ~15 trades/s
median and ~950/s peaks), contiguous trade ids, and bookTicker frames mixed in as a real
combined stream has them. Output is `RecordedFrame`s, so it can be written as a recording file.

`whole_market_frames` is a whole-market session: 1,500+ symbols whose calm rates fall off as a
power law (the busiest at hundreds of trades a second with bursts, the long tail at about a
trade a minute), over a fixed span of time.

Futures frames (`market="usdm"` or `"coinm"`) have the futures trade layout (`X`, no `M`) and
carry every execution type: mostly MARKET, with INSURANCE_FUND, ADL and NA trades mixed in.
A symbol keeps its profile's trade ids in every market, so a spot and a USD-M BTCUSDT session
share ids - the collision the instrument identity (exchange, market, symbol) must survive.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from k2.binance.recording import RecordedFrame


@dataclass(frozen=True)
class SymbolProfile:
    symbol: str
    start_price: float
    tick: float
    lot: float
    first_trade_id: int


DEFAULT_PROFILES: dict[str, SymbolProfile] = {
    "BTCUSDT": SymbolProfile("BTCUSDT", 61_837.63, 0.01, 0.00001, 3_735_683_259),
    "ETHUSDT": SymbolProfile("ETHUSDT", 2_650.12, 0.01, 0.0001, 1_520_538_925),
    "BNBUSDT": SymbolProfile("BNBUSDT", 512.3, 0.1, 0.001, 812_000_001),
    "1000PEPEUSDT": SymbolProfile("1000PEPEUSDT", 0.0081234, 0.0000001, 1.0, 95_000_001),
}
START_MS = 1_723_161_255_000  # 2024-08-08 23:54:15 UTC, the start of the recorded session
CALM_RATE, BURST_RATE = 15.0, 400.0  # trades per second
BURST_ODDS, CALM_ODDS = 0.002, 0.02  # per-trade chance of switching regime
BOOK_TICKERS_PER_TRADE = 1.5  # mean bookTicker frames between two trades of a symbol
RECORDER_LAG_NS = 2_000_000  # receive time trails event time, as on a real network
# Futures execution types (the `X` field) and their share of generated futures trades
EXECUTION_TYPES = (("INSURANCE_FUND", 0.01), ("ADL", 0.01), ("NA", 0.01))
MARKET_EXECUTION = "MARKET"


def profile_for(symbol: str, index: int) -> SymbolProfile:
    """The built-in profile of a symbol, or a plausible one for any other symbol."""
    known = DEFAULT_PROFILES.get(symbol.upper())
    if known:
        return known
    return SymbolProfile(symbol.upper(), 100.0 + 10 * index, 0.01, 0.001, 10_000_001 * (index + 1))


def generate_frames(
    symbols: Sequence[str],
    trades_per_symbol: int,
    seed: int = 7,
    start_ms: int = START_MS,
    first_trade_id: int | None = None,
    market: str = "spot",
) -> Iterator[RecordedFrame]:
    """Frames for all symbols, merged in receive-time order. `first_trade_id` overrides the
    profiles' first ids, so repeated runs (the soak) can continue an id sequence."""
    profiles = [profile_for(symbol, index) for index, symbol in enumerate(symbols)]
    if first_trade_id is not None:
        profiles = [replace(p, first_trade_id=first_trade_id) for p in profiles]
    streams = [
        _symbol_frames(p, trades_per_symbol, seed, start_ms, market=market) for p in profiles
    ]
    yield from heapq.merge(*streams, key=lambda recorded: recorded.receive_ns)


WHOLE_MARKET_SYMBOLS = 1_500
BUSIEST_CALM_RATE = 200.0  # trades/s of the busiest symbol outside its bursts
LONG_TAIL_RATE = 1 / 60  # trades/s of the quietest symbol


def whole_market_frames(
    symbols: int = WHOLE_MARKET_SYMBOLS, seconds: float = 60.0, seed: int = 7,
    start_ms: int = START_MS,
) -> Iterator[RecordedFrame]:  # fmt: skip
    """`seconds` of a market of `symbols` symbols (S0000USDT, ...): symbol i trades at a calm
    rate falling as a power law from BUSIEST_CALM_RATE to LONG_TAIL_RATE (x BURST_RATE /
    CALM_RATE in bursts), so a few symbols carry most trades, as on Binance."""
    exponent = _tail_exponent(symbols)
    until_us = start_ms * 1000 + int(seconds * 1_000_000)
    streams = [
        _symbol_frames(profile_for(f"S{i:04d}USDT", i), None, seed, start_ms,
                       calm_rate=BUSIEST_CALM_RATE / (i + 1) ** exponent, until_us=until_us)
        for i in range(symbols)
    ]  # fmt: skip
    yield from heapq.merge(*streams, key=lambda recorded: recorded.receive_ns)


def _tail_exponent(symbols: int) -> float:
    """The power-law exponent that takes the rate from the busiest to the long tail."""
    return math.log(BUSIEST_CALM_RATE / LONG_TAIL_RATE) / math.log(max(2, symbols))


def _symbol_frames(
    profile: SymbolProfile, trades: int | None, seed: int, start_ms: int,
    calm_rate: float = CALM_RATE, until_us: int | None = None, market: str = "spot",
) -> Iterator[RecordedFrame]:  # fmt: skip
    """`trades` trades of one symbol, or as many as fall before `until_us`."""
    rng = random.Random(f"{seed}:{profile.symbol}")
    stream = profile.symbol.lower()
    price_ticks = round(profile.start_price / profile.tick)
    decimals = max(0, len(f"{profile.tick:.10f}".rstrip("0").split(".")[1]))
    time_us, burst, last_receive_ns = start_ms * 1000, False, 0
    burst_rate = calm_rate * BURST_RATE / CALM_RATE
    for offset in itertools.count() if trades is None else range(trades):
        rate = burst_rate if burst else calm_rate
        time_us += max(1, int(rng.expovariate(rate) * 1_000_000))
        if until_us is not None and time_us > until_us:
            return
        burst = (rng.random() < BURST_ODDS) if not burst else (rng.random() >= CALM_ODDS)
        price_ticks = max(1, price_ticks + rng.choice((-1, 0, 0, 1)))
        price = f"{price_ticks * profile.tick:.{decimals}f}"
        lots = max(1, int(rng.lognormvariate(3.0, 1.5)))
        quantity = lots * profile.lot
        trade_ms = time_us // 1000
        event_ms = trade_ms + rng.randint(0, 2)
        book_tickers = _poisson(rng, BOOK_TICKERS_PER_TRADE)
        receive_ns = max(
            event_ms * 1_000_000 + RECORDER_LAG_NS + rng.randint(0, 999_999),
            last_receive_ns + (book_tickers + 1) * 1_000,  # a receive clock never goes back
        )
        last_receive_ns = receive_ns
        for position in range(book_tickers):
            before_trade_ns = (book_tickers - position) * 1_000
            yield RecordedFrame(receive_ns - before_trade_ns, _book_ticker(stream, price))
        trade_id, maker = profile.first_trade_id + offset, "true" if rng.random() < 0.5 else "false"
        if market == "spot":
            frame = (
                f'{{"stream":"{stream}@trade","data":{{"e":"trade","E":{event_ms},'
                f'"s":"{profile.symbol}","t":{trade_id},'
                f'"p":"{float(price):.8f}","q":"{quantity:.8f}","T":{trade_ms},'
                f'"m":{maker},"M":true}}}}'
            )
        else:
            frame = (
                f'{{"stream":"{stream}@trade","data":{{"e":"trade","E":{event_ms},"T":{trade_ms},'
                f'"s":"{profile.symbol}","t":{trade_id},"p":"{float(price):.8f}",'
                f'"q":"{quantity:.8f}","X":"{_execution_type(rng)}","m":{maker}}}}}'
            )
        yield RecordedFrame(receive_ns, frame.encode())


def _execution_type(rng: random.Random) -> str:
    draw = rng.random()
    for execution_type, share in EXECUTION_TYPES:
        if draw < share:
            return execution_type
        draw -= share
    return MARKET_EXECUTION


def _book_ticker(stream: str, price: str) -> bytes:
    return (
        f'{{"stream":"{stream}@bookTicker","data":{{"u":1,"s":"{stream.upper()}",'
        f'"b":"{float(price):.8f}","B":"1.00000000","a":"{float(price):.8f}","A":"1.00000000"}}}}'
    ).encode()


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count

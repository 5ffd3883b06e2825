"""Per-symbol trade id bookkeeping: forward each id once, find gaps, accept their backfill.

Binance spot trade ids are contiguous per symbol, so a jump from 10 to 14 means 11..13 were
missed (a reconnect, a dropped message): that range becomes an open gap until backfill delivers
it. An id at or below the highest seen that is not inside an open gap is a duplicate (another
connection during rotation, a server resend) and is not forwarded again.

Ids REST proved it will never serve (futures insurance-fund and ADL trades, trades past its
reach) are settled: no longer open, not fetched again after a restart, yet still accepted
should the websocket deliver one late - a settled id is never taken for a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    BACKFILL = "backfill"  # an id inside an open gap: new, and it closes part of the gap


@dataclass(frozen=True)
class Gap:
    symbol: str
    first_id: int
    last_id: int

    @property
    def size(self) -> int:
        return self.last_id - self.first_id + 1


@dataclass
class _SymbolState:
    highest: int | None = None
    first: int | None = None  # the first id observed: nothing below it was forwarded
    missing: set[int] = field(default_factory=set)  # ids inside open gaps
    settled: set[int] = field(default_factory=set)  # missing ids REST will never serve


@dataclass
class Sequencer:
    max_open_gap_ids: int = 1_000_000  # bound memory: a bigger jump is recorded, not tracked
    max_settled_ids: int = 100_000  # per symbol; past it the oldest half is forgotten
    duplicates: int = 0
    out_of_order: int = 0
    gaps: list[Gap] = field(default_factory=list)
    _symbols: dict[str, _SymbolState] = field(default_factory=dict)

    def observe(self, symbol: str, trade_id: int) -> tuple[Verdict, Gap | None]:
        """Classify one trade id; returns the gap it revealed, if any."""
        state = self._symbols.setdefault(symbol, _SymbolState())
        if state.highest is None:
            state.highest = state.first = trade_id
            return Verdict.NEW, None
        if trade_id == state.highest + 1:
            state.highest = trade_id
            return Verdict.NEW, None
        if trade_id > state.highest + 1:
            gap = Gap(symbol, state.highest + 1, trade_id - 1)
            if gap.size <= self.max_open_gap_ids:
                state.missing.update(range(gap.first_id, gap.last_id + 1))
            state.highest = trade_id
            self.gaps.append(gap)
            return Verdict.NEW, gap
        if trade_id in state.missing or trade_id in state.settled:
            state.missing.discard(trade_id)
            state.settled.discard(trade_id)
            self.out_of_order += 1
            return Verdict.BACKFILL, None
        self.duplicates += 1
        return Verdict.DUPLICATE, None

    def reopen(self, symbol: str, first_id: int, last_id: int) -> Gap:
        """Mark ids below the highest as missing again (a gap a previous run left open)."""
        gap = Gap(symbol, first_id, last_id)
        state = self._symbols.setdefault(symbol, _SymbolState())
        if gap.size <= self.max_open_gap_ids:
            state.missing.update(range(first_id, last_id + 1))
        return gap

    def settle(self, symbol: str, ids: set[int]) -> None:
        """`ids` will never come from REST: close them, but accept them should they arrive."""
        state = self._symbols[symbol]
        closing = ids & state.missing
        state.missing -= closing
        state.settled |= closing
        if len(state.settled) > self.max_settled_ids:  # late arrivals are seconds late, not days
            state.settled = set(sorted(state.settled)[len(state.settled) // 2 :])

    def highest(self, symbol: str) -> int | None:
        """The highest id seen for `symbol`, None before its first trade."""
        state = self._symbols.get(symbol)
        return state.highest if state else None

    def first_seen(self, symbol: str) -> int | None:
        """The first id observed for `symbol` (ids below it were never forwarded)."""
        state = self._symbols.get(symbol)
        return state.first if state else None

    def missing_ids(self, gap: Gap) -> set[int] | None:
        """The ids of `gap` still missing; None when the gap was too big to track."""
        if gap.size > self.max_open_gap_ids:
            return None
        state = self._symbols[gap.symbol]
        return {trade_id for trade_id in range(gap.first_id, gap.last_id + 1)
                if trade_id in state.missing}  # fmt: skip

    def open_gap_ids(self, symbol: str) -> int:
        state = self._symbols.get(symbol)
        return len(state.missing) if state else 0

    def open_ranges(self, symbol: str) -> list[tuple[int, int]]:
        """The still-missing ids of a symbol as sorted inclusive ranges (for backfill)."""
        state = self._symbols.get(symbol)
        if not state or not state.missing:
            return []
        ids = sorted(state.missing)
        ranges, start, previous = [], ids[0], ids[0]
        for trade_id in ids[1:]:
            if trade_id != previous + 1:
                ranges.append((start, previous))
                start = trade_id
            previous = trade_id
        ranges.append((start, previous))
        return ranges

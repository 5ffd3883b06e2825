"""The weekly soak's arithmetic: which trades a load step sends and whether a run passed.

The soak state machine (infra/statemachines/soak.asl.json) drives a deployed stack: each load
step puts fresh trades of one synthetic symbol through the connector's Kinesis path and
samples the pipeline's metrics; after a settle wait the lake is reconciled with what was sent
and the run fails on any loss, duplicate or regression. This module is pure: the soak function
(functions/soak/handler.py) makes the AWS calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from k2.domain.lake.reconcile import SymbolReport

SOAK_SYMBOL = "K2SOAKUSDT"  # never a Binance symbol, so soak trades never mix with market data
MAX_TRADES_PER_RUN = 100_000_000
# Metrics a sample reads; the thresholds below bound their worst value over a run.
SAMPLED_METRICS = ("iterator_age_ms", "normalize_duration_ms", "connector_memory_pct")


def run_base_id(started_s: int) -> int:
    """The run's first trade id: runs start at least a second apart (weekly, or by hand) and
    send at most MAX_TRADES_PER_RUN trades, so two runs' ids never overlap and none is
    taken for a duplicate of another's (the lake deduplicates by trade id). Ids stay below
    2**63 until the year 2262."""
    return started_s * MAX_TRADES_PER_RUN


@dataclass(frozen=True)
class LoadStep:
    """One load step: `trades` contiguous ids after the `step` steps before it."""

    base_id: int
    step: int
    trades: int

    def __post_init__(self) -> None:
        if self.trades <= 0 or self.step < 0:
            raise ValueError(f"a load step needs trades > 0 and step >= 0, got {self}")
        if (self.step + 1) * self.trades > MAX_TRADES_PER_RUN:
            raise ValueError(f"a soak run sends at most {MAX_TRADES_PER_RUN:,} trades")

    @property
    def first_id(self) -> int:
        return self.base_id + self.step * self.trades

    @property
    def last_id(self) -> int:
        return self.first_id + self.trades - 1


def expected_trades(symbol: str, first_id: int, last_id: int) -> pa.Table:
    """The ids a run sent, in the shape `reconcile` compares with the lake."""
    count = last_id - first_id + 1
    return pa.table(
        {
            "symbol": pa.array([symbol] * count, pa.string()),
            "source_id": pa.array(range(first_id, last_id + 1), pa.int64()),
        }
    )


@dataclass(frozen=True)
class Thresholds:
    """The worst values a run may see before it counts as a regression."""

    iterator_age_ms: float = 120_000.0  # normalize keeps up within two minutes
    normalize_duration_ms: float = 30_000.0
    connector_memory_pct: float = 80.0

    @classmethod
    def from_input(cls, given: Mapping[str, float] | None) -> Thresholds:
        unknown = set(given or {}) - set(SAMPLED_METRICS)
        if unknown:
            raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {SAMPLED_METRICS}")
        return cls(**{name: float(value) for name, value in (given or {}).items()})


@dataclass
class Verdict:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    worst: dict[str, float | None] = field(default_factory=dict)


def verdict(
    report: SymbolReport, samples: Sequence[Mapping[str, float | None]], thresholds: Thresholds
) -> Verdict:
    """Pass only with every trade exactly once and every sampled metric within its bound.
    A metric without datapoints (the connector's memory while it runs with no tasks) shows
    as None in `worst` and bounds nothing; a run with no samples at all fails."""
    reasons = [
        f"{count:,} trades {what}"
        for count, what in (
            (report.missing, "missing"),
            (report.duplicated, "duplicated"),
            (report.unexpected, "unexpected"),
        )
        if count
    ]
    if report.expected == 0:
        reasons.append("the run sent no trades")
    if not samples:
        reasons.append("no metric samples were taken")
    worst: dict[str, float | None] = {}
    for name in SAMPLED_METRICS:
        seen = [float(v) for s in samples if (v := s.get(name)) is not None]
        worst[name] = max(seen) if seen else None
        bound = getattr(thresholds, name)
        if seen and max(seen) > bound:
            reasons.append(f"{name} reached {max(seen):,.0f}, above {bound:,.0f}")
    return Verdict(ok=not reasons, reasons=reasons, worst=worst)


# --- the local soak (`k2 soak`): one source replayed in a loop with fresh trade ids ----------

_TRADE_STREAM = re.compile(rb'"stream":"([a-z0-9_]+)@trade"')
_TRADE_ID = re.compile(rb'"t":(\d+)')


@dataclass(frozen=True)
class LoopedSource:
    """A source whose trade ids are contiguous per symbol, replayed `cycles` times: in cycle c
    each symbol's ids move up by c times its own count, so every symbol's ids stay contiguous
    across cycles (the connector sees no gap between two cycles) and the union of all cycles
    is known without storing it (the soak's own memory must not grow with its length)."""

    first_ids: dict[str, int]  # symbol -> first trade id of the source
    counts: dict[str, int]  # symbol -> trades in the source

    @classmethod
    def of(cls, trades: pa.Table) -> LoopedSource:
        first_ids, counts = {}, {}
        for row in (
            trades.group_by("symbol")
            .aggregate(
                [("source_id", "min"), ("source_id", "max"), ("source_id", "count_distinct")]
            )
            .to_pylist()
        ):
            symbol, low, high = row["symbol"], row["source_id_min"], row["source_id_max"]
            if high - low + 1 != row["source_id_count_distinct"]:
                raise ValueError(f"{symbol}: trade ids are not contiguous; a soak source must be")
            first_ids[symbol], counts[symbol] = low, high - low + 1
        if not counts:
            raise ValueError("the soak source holds no trades")
        return cls(first_ids, counts)

    def offsets(self, cycle: int) -> dict[str, int]:
        """Per symbol, how far cycle `cycle` moves its trade ids."""
        return {symbol: cycle * count for symbol, count in self.counts.items()}


def shift_trade_ids(frame: bytes, offsets: Mapping[str, int]) -> bytes:
    """The frame with its trade id moved by its symbol's offset (only spot trade frames
    carry one; other frames come back unchanged)."""
    stream = _TRADE_STREAM.search(frame)
    offset = offsets.get(stream[1].decode().upper(), 0) if stream else 0
    if not offset:
        return frame
    return _TRADE_ID.sub(lambda m: b'"t":%d' % (int(m[1]) + offset), frame, count=1)


def reconcile_loops(source: LoopedSource, cycles: int, landed: pa.Table) -> list[SymbolReport]:
    """Every id of every cycle exactly once in `landed` (symbol, source_sequence): per
    symbol the cycles' ids are one contiguous range, so membership is arithmetic."""
    reports = []
    for symbol, first in sorted(source.first_ids.items()):
        ids = landed.filter(pc.equal(landed["symbol"], symbol))["source_sequence"]
        rows = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=np.int64)
        distance = np.unique(rows) - first
        expected = cycles * source.counts[symbol]
        belonging = int(((distance >= 0) & (distance < expected)).sum())
        reports.append(SymbolReport(
            symbol=symbol, expected=expected, landed_rows=len(rows),
            landed_distinct=len(distance), missing=expected - belonging,
            duplicated=len(rows) - len(distance), unexpected=len(distance) - belonging,
        ))  # fmt: skip
    return reports


def memory_slope_mb_per_hour(samples: Sequence[tuple[float, float]], warm_up: float = 0.1) -> float:
    """Least-squares slope of (seconds, MB) after the first `warm_up` share of the run, when
    caches and pools have filled: a leak shows as a steady positive slope."""
    steady = [s for s in samples if s[0] >= samples[-1][0] * warm_up] if samples else []
    if len(steady) < 2:
        return 0.0
    seconds = [s[0] for s in steady]
    megabytes = [s[1] for s in steady]
    mean_t, mean_m = sum(seconds) / len(seconds), sum(megabytes) / len(megabytes)
    variance = sum((t - mean_t) ** 2 for t in seconds)
    if not variance:
        return 0.0
    covariance = sum((t - mean_t) * (m - mean_m) for t, m in zip(seconds, megabytes, strict=True))
    return covariance / variance * 3600

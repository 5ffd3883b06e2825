"""Identical queries asked at once run once: the first runs, the others wait for its answer,
and the answer serves the same question again for `ttl_s` (a dashboard's panels, many users
on the same chart). Answers are never older than `ttl_s` plus the lake look the engine took
(k2.adapters.query.duckdb_engine: one second each). Errors are shared with the waiters, never
kept. Memory is bounded by `max_bytes` of Arrow tables."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass

import pyarrow as pa

from k2.domain.query.engine import QueryEngine
from k2.domain.query.planner import Plan


@dataclass(frozen=True)
class _Answer:
    table: pa.Table
    until: float


class SharedAnswers:
    def __init__(self, engine: QueryEngine, ttl_s: float = 1.0, max_bytes: int = 256 << 20):
        self._engine, self._ttl_s, self._max_bytes = engine, ttl_s, max_bytes
        self._lock = threading.Lock()
        self._answers: OrderedDict[Plan, _Answer] = OrderedDict()
        self._running: dict[Plan, Future[pa.Table]] = {}
        self.ran = self.shared = 0

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        with self._lock:
            answer = self._answers.get(plan)
            if answer is not None and answer.until > time.monotonic():
                self._answers.move_to_end(plan)
                self.shared += 1
                return answer.table
            running = self._running.get(plan)
            if running is None:
                future: Future[pa.Table] = Future()
                self._running[plan] = future
        if running is not None:
            self.shared += 1
            return running.result(timeout=timeout_s + 5)
        return self._run(plan, timeout_s, future)

    def wait_started(self, timeout_s: float) -> bool:
        wait_started = getattr(self._engine, "wait_started", None)
        return wait_started is None or bool(wait_started(timeout_s))

    def close(self) -> None:
        close = getattr(self._engine, "close", None)
        if close is not None:
            close()

    def _run(self, plan: Plan, timeout_s: float, future: Future[pa.Table]) -> pa.Table:
        self.ran += 1
        try:
            table = self._engine.execute(plan, timeout_s)
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            with self._lock:
                del self._running[plan]
        with self._lock:
            self._answers[plan] = _Answer(table, time.monotonic() + self._ttl_s)
            self._evict()
        future.set_result(table)
        return table

    def _evict(self) -> None:
        total = sum(answer.table.nbytes for answer in self._answers.values())
        now = time.monotonic()
        for plan in list(self._answers):
            answer = self._answers[plan]
            if total <= self._max_bytes and answer.until > now:
                continue
            total -= answer.table.nbytes
            del self._answers[plan]

"""The worker pool behind local queries: a query's own error keeps its worker, a worker past
its deadline or its memory is killed and replaced, a request never waits on a replacement
still starting while a started worker is idle, and no free worker within the wait is a busy
error. Real spawned processes, with an engine that does what each plan's SQL names."""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pytest

from k2.adapters.query.isolated import EngineFactory, IsolatedQueryEngine, WorkerLimits
from k2.domain.query.engine import QueryBusyError, QueryResourceError, QueryTimeoutError
from k2.domain.query.planner import Plan
from k2.domain.query.spec import QueryError

pytestmark = [pytest.mark.unit, pytest.mark.replaces_workers]


class ScriptedEngine:
    """Runs in the worker: `pid` answers the worker's pid, `nap` takes a second, `sleep`
    outlasts any deadline, `hog` allocates past the address-space limit, `typo` is the
    query's own error. Starts slowly (30 s) once the file `slow_start_flag` exists."""

    def __init__(self, slow_start_flag: str = "") -> None:
        if slow_start_flag and os.path.exists(slow_start_flag):
            time.sleep(30)

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        if plan.sql in ("nap", "sleep"):
            time.sleep(1 if plan.sql == "nap" else 3_600)
        if plan.sql == "hog":
            bytearray(4 << 30)
        if plan.sql == "typo":
            raise QueryError("no such column: prise")
        return pa.table({"pid": [os.getpid()]})


@contextlib.contextmanager
def pool(factory: EngineFactory = ScriptedEngine, **limits: Any) -> Iterator[IsolatedQueryEngine]:
    engine = IsolatedQueryEngine(
        factory, WorkerLimits(**{"workers": 2, "memory_mb": 1_024, **limits})
    )
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[IsolatedQueryEngine]:
    """One pool for the tests that leave it whole (killed workers are replaced)."""
    with pool() as engine:
        yield engine


@pytest.fixture
def engine(shared: IsolatedQueryEngine) -> IsolatedQueryEngine:
    assert shared.wait_started(60)  # a worker a previous test killed has been replaced
    return shared


def ask(engine: IsolatedQueryEngine, sql: str = "pid", timeout_s: float = 30) -> int:
    return engine.execute(Plan(sql, ()), timeout_s).column("pid")[0].as_py()


def both_busy_then_started(engine: IsolatedQueryEngine) -> set[int]:
    with ThreadPoolExecutor(2) as threads:
        return set(threads.map(lambda _: ask(engine, "nap"), range(2)))


def test_a_querys_own_error_keeps_its_worker(engine: IsolatedQueryEngine):
    workers = both_busy_then_started(engine)
    with pytest.raises(QueryError, match="prise"):
        ask(engine, "typo")
    assert both_busy_then_started(engine) == workers


def test_a_worker_past_its_deadline_is_killed_and_replaced(engine: IsolatedQueryEngine):
    workers = both_busy_then_started(engine)
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        ask(engine, "sleep", timeout_s=0.5)
    assert time.monotonic() - started < 5
    after = both_busy_then_started(engine)
    assert len(after) == 2
    assert len(after & workers) == 1


def test_a_worker_past_its_memory_dies_alone_and_is_replaced(engine: IsolatedQueryEngine):
    workers = both_busy_then_started(engine)
    with pytest.raises(QueryResourceError, match="memory"):
        ask(engine, "hog")
    after = both_busy_then_started(engine)
    assert len(after) == 2
    assert len(after & workers) == 1


def test_a_started_worker_is_preferred_to_a_replacement_still_starting(tmp_path):
    flag = tmp_path / "slow"
    with pool(functools.partial(ScriptedEngine, str(flag))) as engine:
        workers = both_busy_then_started(engine)
        flag.touch()  # from now on a replacement takes 30 s to start
        with pytest.raises(QueryTimeoutError):
            ask(engine, "sleep", timeout_s=0.5)
        asked = time.monotonic()
        for _ in range(3):
            assert ask(engine) in workers
        assert time.monotonic() - asked < 5


def test_no_free_worker_within_the_wait_is_a_busy_error():
    with pool(workers=1, queue_wait_s=0.2) as engine, ThreadPoolExecutor(1) as threads:
        ask(engine)
        napping = threads.submit(ask, engine, "nap")
        time.sleep(0.3)
        with pytest.raises(QueryBusyError, match="busy"):
            ask(engine)
        assert napping.result() == ask(engine)

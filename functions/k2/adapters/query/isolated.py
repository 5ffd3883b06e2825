"""Queries run in worker processes that cannot take their host down (the local engine).

DuckDB's own limits do not hold for everything a query can do (`sequence(1, 200000000)`
materializes outside its buffer manager and ignores interrupts), and `k2 local up` serves the
query function from the same process as the connector and the normalize function. So each
query runs in one of a few worker processes, each under an address-space limit (RLIMIT_AS),
and one that passes its deadline is killed and replaced; so is one that dies. The parent never
holds more than `max_result_bytes` of a result: larger ones stop in the worker. Requests beyond
the workers wait `queue_wait_s` for one to free up, then are refused as busy. A request takes
a worker that has finished starting when there is one: a replacement still importing DuckDB
does not hold a query up while a started worker is idle.

In AWS the engine is Athena (a separate service with its own bytes-scanned cutoff): nothing
to isolate there.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from k2.domain.query.engine import (
    QueryBusyError,
    QueryEngine,
    QueryResourceError,
    QueryTimeoutError,
)
from k2.domain.query.planner import Plan
from k2.domain.query.spec import QueryError

EngineFactory = Callable[[], QueryEngine]  # must pickle: a class, or functools.partial of one
STARTUP_TIMEOUT_S = 60.0  # a worker imports DuckDB, pyarrow and pyiceberg: seconds, not minutes


@dataclass(frozen=True)
class WorkerLimits:
    workers: int = 2
    memory_mb: int = 3_072  # address space per worker, imports included
    max_result_bytes: int = 64 * 1024 * 1024  # Arrow IPC bytes a worker may hand back
    queue_wait_s: float = 10.0


class IsolatedQueryEngine:
    def __init__(self, factory: EngineFactory, limits: WorkerLimits | None = None) -> None:
        self._factory, self.limits = factory, limits or WorkerLimits()
        self._context = multiprocessing.get_context("spawn")  # no inherited threads or locks
        self._available = threading.Condition()
        self._idle: list[_Worker] = []
        self._workers: list[_Worker] = []
        for _ in range(self.limits.workers):
            self._start_worker()

    def execute(self, plan: Plan, timeout_s: float) -> pa.Table:
        worker = self._take()
        try:
            answer = worker.ask(plan, timeout_s)
        except (QueryTimeoutError, QueryResourceError, QueryBusyError):
            self._replace(worker)  # killed, dead, or never ready: a fresh one takes its place
            raise
        except BaseException:
            self._give_back(worker)  # the worker answered (an error of the query): keep it
            raise
        self._give_back(worker)
        return answer

    def wait_started(self, timeout_s: float = STARTUP_TIMEOUT_S) -> bool:
        """Whether every idle worker has finished starting within `timeout_s`: a host says it
        is ready once its workers are, so the first queries do not wait on imports."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._available:
                if all(worker.started() for worker in self._idle):
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every worker (the host stops, or a test ends)."""
        with self._available:
            for worker in self._workers:
                worker.stop()
            self._workers.clear()
            self._idle.clear()

    def _take(self) -> _Worker:
        """An idle worker, a started one first; waits `queue_wait_s` for one to free up."""
        with self._available:
            if not self._available.wait_for(lambda: self._idle, self.limits.queue_wait_s):
                raise QueryBusyError(
                    f"all {self.limits.workers} query workers are busy; try again shortly"
                )
            worker = next((w for w in self._idle if w.started()), self._idle[0])
            self._idle.remove(worker)
            return worker

    def _give_back(self, worker: _Worker) -> None:
        with self._available:
            if worker in self._workers:  # not closed meanwhile
                self._idle.append(worker)
                self._available.notify()

    def _start_worker(self) -> None:
        worker = _Worker(self._context, self._factory, self.limits)
        with self._available:
            self._workers.append(worker)
        self._give_back(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.stop()
        with self._available:
            if worker not in self._workers:
                return  # closed meanwhile: nothing to replace
            self._workers.remove(worker)
        self._start_worker()


class _Worker:
    def __init__(self, context: Any, factory: EngineFactory, limits: WorkerLimits) -> None:
        self._limits = limits
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, factory, limits), name="k2-query-worker", daemon=True
        )
        self._process.start()
        child.close()
        self._ready = False

    def ask(self, plan: Plan, timeout_s: float) -> pa.Table:
        """The plan's result, or the error the worker met; kills nothing itself. A worker's
        start (imports, engine) is waited for first, outside the query's own time limit."""
        try:
            self._wait_until_ready()
            self._conn.send((plan, timeout_s))
            if not self._conn.poll(timeout_s + 1.0):
                raise QueryTimeoutError(f"query ran longer than {timeout_s:g} s and was stopped")
            kind, payload = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            raise QueryResourceError(
                f"the query worker died, most likely past its {self._limits.memory_mb:,} MB "
                "memory limit"
            ) from None
        return _answer(kind, payload)

    def started(self) -> bool:
        """Whether the worker has said it is ready (never blocks)."""
        if not self._ready and self._conn.poll(0):
            try:
                self._conn.recv()  # "ready"
            except (EOFError, OSError):
                return False  # died while starting: the next ask says so
            self._ready = True
        return self._ready

    def _wait_until_ready(self) -> None:
        if self.started():
            return
        if not self._conn.poll(STARTUP_TIMEOUT_S):
            raise QueryBusyError("a query worker did not start in time; try again shortly")
        if not self.started():
            raise EOFError  # the pipe closed: the worker died while starting

    def stop(self) -> None:
        self._process.kill()
        self._process.join(timeout=5)
        self._conn.close()


def _answer(kind: str, payload: Any) -> pa.Table:
    if kind == "table":
        return pa.ipc.open_stream(payload).read_all()
    if kind == "user":
        raise QueryError(payload)
    if kind == "timeout":
        raise QueryTimeoutError(payload)
    if kind == "resource":
        raise QueryResourceError(payload)
    raise RuntimeError(payload)


def _serve(conn: Connection, factory: EngineFactory, limits: WorkerLimits) -> None:
    """The worker: answer (plan, timeout) requests until the pipe closes."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    engine = factory()
    conn.send("ready")
    while True:
        try:
            plan, timeout_s = conn.recv()
        except EOFError:
            return
        conn.send(_run(engine, plan, timeout_s, limits.max_result_bytes))


def _run(engine: QueryEngine, plan: Plan, timeout_s: float, max_bytes: int) -> tuple[str, Any]:
    try:
        table = engine.execute(plan, timeout_s)
    except QueryError as error:
        return "user", str(error)
    except QueryTimeoutError as error:
        return "timeout", str(error)
    except QueryResourceError as error:
        return "resource", str(error)
    except MemoryError:
        return "resource", "the query needed more memory than a query worker may use"
    except Exception as error:  # the parent answers 500 with a request id
        return "internal", f"{type(error).__name__}: {error}"
    sink = pa.BufferOutputStream()
    with contextlib.closing(pa.ipc.new_stream(sink, table.schema)) as writer:
        for batch in table.to_batches():
            writer.write_batch(batch)
            if sink.tell() > max_bytes:
                return "resource", f"the result is over {max_bytes // 2**20} MB; narrow the query"
    return "table", sink.getvalue().to_pybytes()

"""A pytest plugin that keeps `make test` from exhausting a laptop, one test at a time.

After each test (its teardown included) it fails the test if, compared
with the moment its call began (after setup, so what session and module fixtures start is not
counted), the process:
- holds more than RSS_GROWTH_LIMIT more resident memory (unless marked `holds_the_lake`: a
  test that puts millions of rows into the in-process moto server keeps them there);
- still runs a thread the test started (idle workers of thread pools aside: libraries such as
  pyiceberg keep a process-wide pool on purpose);
- still has a child process the test started (replay servers, connectors, `k2` CLIs; under
  the `replaces_workers` marker, a multiprocessing worker a pool started in place of one it
  killed is its fixture's to stop);
- still listens on a port the test opened (moto servers, replay servers, function URLs).
Each tier's timeout is set here too: chaos 60 s, everything else the configured 300 s.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil
import pytest

RSS_GROWTH_LIMIT = 500 * 1024 * 1024
GRACE_S = 2.0  # threads and children get this long to finish after teardown
TIER_TIMEOUTS = {"chaos": 60, "operational": 300}
# Thread pools libraries keep for the whole process: Python's executors, and native pools
# (polars' Rust workers) whose threads Python names Dummy-N once they call back into it.
_POOL_WORKER_PREFIXES = ("ThreadPoolExecutor-", "asyncio_", "Dummy-")


@dataclass
class _Snapshot:
    rss: int
    threads: set[threading.Thread] = field(default_factory=set)
    children: set[int] = field(default_factory=set)
    listening: set[tuple[str, int]] = field(default_factory=set)

    @classmethod
    def take(cls) -> _Snapshot:
        process = psutil.Process()
        return cls(
            rss=process.memory_info().rss,
            threads=set(threading.enumerate()),
            children={child.pid for child in process.children(recursive=True)},
            listening={
                (c.laddr.ip, c.laddr.port)
                for c in process.net_connections(kind="inet")
                if c.status == psutil.CONN_LISTEN
            },
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for tier, seconds in TIER_TIMEOUTS.items():
            if item.get_closest_marker(tier) and not item.get_closest_marker("timeout"):
                item.add_marker(pytest.mark.timeout(seconds))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    item.stash[_BEFORE] = _Snapshot.take()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    result = yield
    before = item.stash.get(_BEFORE, None)
    if before is not None:  # None: setup failed and the call never ran
        problems = _leaks(before, pool_children=bool(item.get_closest_marker("replaces_workers")),
                          rss_limit=not item.get_closest_marker("holds_the_lake"))  # fmt: skip
        if problems:
            pytest.fail(f"{item.nodeid} left behind: " + "; ".join(problems), pytrace=False)
    return result


def _leaks(before: _Snapshot, pool_children: bool, rss_limit: bool = True) -> list[str]:
    """What the test left behind. A clean look comes first and costs ~2 ms; only when it
    finds something is garbage collected (40-300 ms in a worker's heap: once per test it was
    a third of the suite's CPU) and the look repeated for up to GRACE_S."""
    problems = _problems(before, _Snapshot.take(), pool_children, rss_limit)
    if not problems:
        return []
    gc.collect()
    deadline = time.monotonic() + GRACE_S
    while problems and time.monotonic() <= deadline:
        time.sleep(0.1)
        problems = _problems(before, _Snapshot.take(), pool_children, rss_limit)
    return problems


def _problems(before: _Snapshot, after: _Snapshot, pool_children: bool,
              rss_limit: bool) -> list[str]:  # fmt: skip
    threads = [
        t.name
        for t in after.threads - before.threads
        if t.is_alive() and not t.name.startswith(_POOL_WORKER_PREFIXES)
    ]
    children = sorted(
        pid
        for pid in after.children - before.children
        if not (pool_children and _is_multiprocessing_worker(pid))
    )
    ports = sorted(after.listening - before.listening)
    problems = []
    if rss_limit and after.rss - before.rss > RSS_GROWTH_LIMIT:
        problems.append(f"RSS grew by {(after.rss - before.rss) / 2**20:,.0f} MB")
    if threads:
        problems.append(f"threads {sorted(threads)}")
    if children:
        problems.append(f"child processes {children}")
    if ports:
        problems.append(f"listening sockets {ports}")
    return problems


def _is_multiprocessing_worker(pid: int) -> bool:
    try:
        return "multiprocessing" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False  # gone meanwhile: the next look will not see it


_BEFORE = pytest.StashKey[_Snapshot]()

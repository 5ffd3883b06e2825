"""The resource guard fails a test that leaves a thread, a child process or a listening
socket behind, and lets clean tests and fixture-owned resources pass."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.unit
pytest_plugins = ["pytester"]

LEAKY_TESTS = """
import socket, subprocess, sys, threading, time
import pytest

@pytest.fixture(scope="module")
def module_server():
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()

def test_clean(module_server):
    assert module_server.getsockname()[1] > 0

def test_thread_left_running():
    threading.Thread(target=time.sleep, args=(30,), name="forgotten", daemon=True).start()

def test_child_left_running():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(8)"])

def test_port_left_open():
    test_port_left_open.server = socket.create_server(("127.0.0.1", 0))
"""


def test_the_guard_names_what_each_test_left_behind(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the inner pytest imports the guard
    pytester.makepyfile(test_leaks=LEAKY_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "tests.support.resource_guard", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=4, errors=3)
    result.stdout.fnmatch_lines_random([
        "*test_thread_left_running left behind: threads *forgotten*",
        "*test_child_left_running left behind: child processes*",
        "*test_port_left_open left behind: listening sockets*",
    ])  # fmt: skip

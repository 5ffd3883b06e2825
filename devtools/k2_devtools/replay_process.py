"""The replay server in a process of its own, as Binance is a machine of its own.

`k2 run` used to serve the session from its own event loop, so the exchange's work (sending
every frame, compressing it) competed for one core with the connector's: at 1,500 symbols the
server's send loop took about 5 of the connector stage's 13 s. Here it runs as
`k2-replay-server` in a child process, on the other core; the parent reads its URL from the
child's first line and asks `/k2/status` whether the session has played. The child stops when
the parent closes its standard input - also when the parent dies - so it never outlives a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.ipc

from k2.binance.recording import RecordedFrame, write_recording
from k2_devtools.replay_server import TRADE_INDEX_COLUMNS

START_TIMEOUT_S = 120.0  # the child reads and indexes the whole session before it listens
STATUS_EVERY_S = 0.1


class ReplaySource(Protocol):
    """What the pipeline needs of a replay server, in this process or in another."""

    @property
    def url(self) -> str: ...

    @property
    def rest_url(self) -> str: ...

    @property
    def finished(self) -> Any: ...  # .is_set(): the whole session has been published

    def play_when_connected(self, clients: int) -> None: ...


class ReplayProcess:
    def __init__(
        self, frames: Sequence[RecordedFrame], speed: float = 0.0, market: str = "spot",
        trades: pa.Table | None = None,
    ) -> None:  # fmt: skip
        """trades: the frames' trades as parse_frames read them, when the caller has them;
        handed over as an Arrow file so the child does not parse the session again."""
        if any(b"\n" in recorded.frame for recorded in frames):
            raise ValueError("a frame holds a line break: it cannot go through a recording file")
        self._frames, self._speed, self._market, self._trades = frames, speed, market, trades
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._url = ""
        self.finished = _RemoteFinished(self)

    @property
    def url(self) -> str:
        return self._url

    @property
    def rest_url(self) -> str:
        return self._url.replace("ws://", "http://", 1)

    def play_when_connected(self, clients: int) -> None:
        self.control(f"play-when-connected?clients={clients}")

    def control(self, command: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.rest_url}/k2/{command}", timeout=10) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def __enter__(self) -> ReplayProcess:
        self._directory = tempfile.TemporaryDirectory(prefix="k2-replay-")
        session = Path(self._directory.name) / "session.txt"
        with session.open("wb") as out:
            write_recording(self._frames, out)
        command = [sys.executable, "-m", "k2_devtools.cli.replay_server", str(session),
                   "--speed", str(self._speed), "--market", self._market,
                   "--until-stdin-closes"]  # fmt: skip
        if self._trades is not None:
            index = Path(self._directory.name) / "trades.arrow"
            columns = self._trades.select(list(TRADE_INDEX_COLUMNS))
            with pa.OSFile(str(index), "wb") as sink, pa.ipc.new_file(sink, columns.schema) as out:
                out.write_table(columns)
            command += ["--trades-index", str(index)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._url = self._read_url(self._process)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:  # fmt: skip
        if self._process:
            if self._process.stdin:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._directory:
            self._directory.cleanup()

    @staticmethod
    def _read_url(process: subprocess.Popen[bytes]) -> str:
        """The child's first line: `listening ws://host:port (REST ...), N frames`."""
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        line = b""
        while not line and time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
        words = line.decode().split()
        if len(words) < 2 or words[0] != "listening":
            process.kill()
            raise RuntimeError(f"the replay server did not start (exit {process.wait()})")
        return words[1]


class _RemoteFinished:
    """`is_set()` like an asyncio.Event's, asked of the child at most every STATUS_EVERY_S."""

    def __init__(self, server: ReplayProcess) -> None:
        self._server, self._asked_at, self._finished = server, 0.0, False

    def is_set(self) -> bool:
        if not self._finished and time.monotonic() - self._asked_at >= STATUS_EVERY_S:
            self._asked_at = time.monotonic()
            self._finished = bool(self._server.control("status")["finished"])
        return self._finished

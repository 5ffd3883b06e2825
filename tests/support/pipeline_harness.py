"""Shared by the chaos and operational tiers: the local pipeline's resources on a fresh moto
server behind the fault proxy, and `k2 lake verify` run as a user runs it (the session to
replay comes from the `replay_session` fixture in tests/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from k2.adapters import aws
from k2.adapters.kinesis.writer import KinesisWriter
from k2.binance.frames import parse_frames
from k2.binance.recording import RecordedFrame, read_recordings
from k2_connector.websocket import ConnectionSettings
from k2_devtools.local.endpoint import embedded_endpoint, endpoint_environment, reset
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.event_source import KinesisEventSource
from k2_devtools.local.options import LOCAL_MAPPING
from k2_devtools.local.pipeline import (
    LOCAL_CONNECTIONS,
    LOCAL_HANDLER_ENV,
    StreamEnd,
    local_stack,
    normalize_event_source,
    stream_through_connector,
)
from k2_devtools.local.resources import LocalStack, create_resources
from k2_devtools.replay_server import Faults
from tests.support.cli import K2
from tests.support.fault_proxy import FaultPlan, FaultProxy, fault_proxy


@dataclass
class Pipeline:
    local: LocalStack
    queue_url: str
    writer: KinesisWriter
    frames: list[RecordedFrame]
    journal: Path
    proxy: FaultProxy
    endpoint: str

    def stream(
        self,
        speed: float,
        duration_s: float | None = None,
        faults: Faults | None = None,
        connection: ConnectionSettings = LOCAL_CONNECTIONS,
    ) -> bool:
        """One connector over the whole session (or until `duration_s`) from the replay
        server (with its `faults`); True if every trade was delivered."""
        expected = parse_frames([f.frame for f in self.frames]).trades
        _, end = asyncio.run(stream_through_connector(
            self.frames, expected, self.writer.put_frames, self.journal, lambda *_: None,
            timeout_s=120, duration_s=duration_s, speed=speed, faults=faults,
            connection=connection,
        ))  # fmt: skip
        return end is StreamEnd.COMPLETE

    def event_source(self, batch_size: int = LOCAL_MAPPING.batch_size) -> KinesisEventSource:
        mapping = replace(LOCAL_MAPPING, batch_size=batch_size)
        return normalize_event_source(self.local, mapping, self.queue_url)


@contextmanager
def pipeline(session: list[Path], faults: FaultPlan | None = None) -> Iterator[Pipeline]:
    """The local pipeline's resources on a fresh moto server, behind the fault proxy."""
    with (
        embedded_endpoint() as moto_url,
        fault_proxy(moto_url, faults or FaultPlan()) as (url, proxy),
        endpoint_environment(url),
        scoped_environment(LOCAL_HANDLER_ENV),
    ):
        reset(moto_url)  # moto's state is process-wide
        local = local_stack(None, shards=2)
        with scoped_environment(local.lake.as_env()), tempfile.TemporaryDirectory() as journal:
            queue_url = create_resources(local)
            writer = KinesisWriter(aws.client("kinesis", url), local.stream_name)
            frames = list(read_recordings(session))
            yield Pipeline(local, queue_url, writer, frames, Path(journal), proxy, url)


def lake_verify(session: list[Path]) -> dict[str, Any]:
    """`k2 lake verify` against the endpoint and lake of the current environment."""
    result = subprocess.run(
        [*K2, "lake", "verify", "--source", *map(str, session), "--json"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ), check=False,
    )  # fmt: skip
    assert result.stdout, result.stderr[-2000:]
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return {"exit": result.returncode, **json.loads(result.stdout)}


def assert_exactly_once(verified: dict[str, Any]) -> None:
    symbols = verified["symbols"]
    assert verified["exit"] == 0, symbols
    assert verified["ok"] is True
    assert all(s["missing"] == s["duplicated"] == s["unexpected"] == 0 for s in symbols), symbols

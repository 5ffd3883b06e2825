"""Shared fixtures: recorded data, Kinesis-shaped events, in-process moto and a moto server."""

from __future__ import annotations

import gzip
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import pytest
from moto import mock_aws

from k2.adapters import aws
from k2.binance.generator import generate_frames
from k2.binance.recording import write_recording
from k2.config import LakeSettings
from k2_devtools.local.endpoint import LOCAL_CREDENTIALS, embedded_endpoint, reset
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.pipeline import LOCAL_HANDLER_ENV
from normalize import handler
from tests.support.lake_files import create_lake
from tests.support.recordings import BTC_RECORDING, ETH_RECORDING, RECORDINGS

pytest_plugins = ["tests.support.resource_guard"]


@pytest.fixture
def recordings() -> list[Path]:
    missing = [path for path in (BTC_RECORDING, ETH_RECORDING) if not path.is_file()]
    if missing:
        pytest.skip(f"recorded Binance session not found at {RECORDINGS} (shared/ not beside repo)")
    return [BTC_RECORDING, ETH_RECORDING]


@pytest.fixture(autouse=True)
def fresh_handler_state() -> Iterator[None]:
    """Each test is a cold start: no sink (and no Glue partitions) remembered from another."""
    handler.build_sink.cache_clear()
    aws._cached_client.cache_clear()
    yield
    handler.build_sink.cache_clear()
    aws._cached_client.cache_clear()


@pytest.fixture
def in_process_lake() -> Iterator[LakeSettings]:
    """moto in-process (boto3 only) with the lake bucket and Glue table created."""
    env: dict[str, str | None] = {**LOCAL_CREDENTIALS, **LOCAL_HANDLER_ENV}
    env["AWS_ENDPOINT_URL"] = None
    with scoped_environment(env), mock_aws():
        settings = LakeSettings.from_env()
        create_lake(settings)
        with scoped_environment(settings.as_env()):
            yield settings


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server over HTTP for the session; or AWS_ENDPOINT_URL (e.g. LocalStack)."""
    external = os.environ.get("AWS_ENDPOINT_URL")
    if external:
        yield external
        return
    with embedded_endpoint() as url:
        yield url


@pytest.fixture
def server_lake(moto_server: str) -> Iterator[LakeSettings]:
    """A clean lake on the HTTP endpoint, for pyarrow / awswrangler clients. An external
    endpoint (LocalStack) is shared and not reset: each test gets its own bucket instead."""
    env = {**LOCAL_CREDENTIALS, **LOCAL_HANDLER_ENV, "AWS_ENDPOINT_URL": moto_server}
    if "AWS_ENDPOINT_URL" in os.environ:
        env["LAKE_BUCKET"] = f"k2-lake-{uuid.uuid4().hex[:12]}"
    else:
        reset(moto_server)
    with scoped_environment(env):
        settings = LakeSettings.from_env()
        create_lake(settings)
        with scoped_environment(settings.as_env()):
            yield settings


@pytest.fixture(scope="module")
def replay_session(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The recorded session, or (without ../shared) a generated one written as a recording."""
    if BTC_RECORDING.is_file() and ETH_RECORDING.is_file():
        return [BTC_RECORDING, ETH_RECORDING]
    path = tmp_path_factory.mktemp("session") / "generated.gz"
    with gzip.open(path, "wb") as out:
        write_recording(generate_frames(["BTCUSDT", "ETHUSDT"], 6_000), cast(IO[bytes], out))
    return [path]

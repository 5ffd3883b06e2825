"""boto3 clients for AWS, LocalStack or moto: the only place an endpoint is chosen."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5)
# For a caller that must stop in bounded time (the connector: one put in flight at its stop
# deadline takes at most 3 x (3 s + 10 s) plus backoff, about 40 s), instead of botocore's
# 60 s read timeout and our 5 attempts.
_BOUNDED = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10
)


def client(
    service: str, endpoint_url: str | None = None, region: str | None = None,
    bounded: bool = False,
) -> Any:  # fmt: skip
    """A cached client; endpoint_url None means AWS_ENDPOINT_URL if set, else real AWS;
    `bounded`: short timeouts and fewer retries, so a call never takes more than ~40 s."""
    return _cached_client(
        service,
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        bounded,
    )


@cache
def _cached_client(
    service: str, endpoint_url: str | None, region: str | None, bounded: bool
) -> Any:
    session: Any = boto3.session.Session()  # service names are dynamic; stubs want literals
    config = _BOUNDED if bounded else _RETRIES
    return session.client(
        service, endpoint_url=endpoint_url, region_name=region or "us-east-1", config=config
    )

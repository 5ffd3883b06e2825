"""boto3 clients for AWS, LocalStack or moto: the only place an endpoint is chosen."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5)


def client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A cached client; endpoint_url None means AWS_ENDPOINT_URL if set, else real AWS."""
    return _cached_client(
        service,
        endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
    )


@cache
def _cached_client(service: str, endpoint_url: str | None, region: str | None) -> Any:
    session: Any = boto3.session.Session()  # service names are dynamic; stubs want literals
    return session.client(
        service, endpoint_url=endpoint_url, region_name=region or "us-east-1", config=_RETRIES
    )

"""Read the staging lake back as one Arrow table (pyarrow's S3 client, any endpoint)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs

from k2.config import LakeSettings
from k2.domain import schema


def s3_filesystem(endpoint_url: str | None) -> fs.S3FileSystem:
    """pyarrow ignores AWS_ENDPOINT_URL, so the endpoint is passed explicitly."""
    if not endpoint_url:
        return fs.S3FileSystem(region=os.environ.get("AWS_REGION", "us-east-1"))
    parsed = urlparse(endpoint_url)
    return fs.S3FileSystem(
        access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        endpoint_override=parsed.netloc,
        scheme=parsed.scheme or "http",
    )


_PARTITION_SCHEMA = pa.schema([(key, pa.string()) for key in schema.PARTITION_KEYS])


def staging_row_schema() -> pa.Schema:
    """File columns plus the partition keys that live in the hive paths."""
    return pa.unify_schemas([schema.staging_file_schema(), _PARTITION_SCHEMA])


def staging_dataset(settings: LakeSettings, keys: Sequence[str] | None = None) -> ds.Dataset:
    """The staging files (all, or just these object keys) as one dataset; partition keys come
    back from the hive paths."""
    root = f"{settings.bucket}/{settings.staging_prefix.strip('/')}"
    return ds.dataset(
        root if keys is None else [f"{settings.bucket}/{key}" for key in keys],
        filesystem=s3_filesystem(settings.endpoint_url),
        format="parquet",
        partitioning=ds.partitioning(_PARTITION_SCHEMA, flavor="hive"),
        partition_base_dir=None if keys is None else root,
        schema=staging_row_schema(),
    )


def read_staging(settings: LakeSettings) -> pa.Table:
    """All staging rows with the partition keys restored as columns (TradeV2 column order)."""
    table = staging_dataset(settings).to_table()
    return table.select([*schema.field_names(), "trade_date"])

"""A lake to write into, and what the handler wrote read straight from S3 objects (works with
in-process moto and moto server alike)."""

from __future__ import annotations

import io
import json

import boto3
import pyarrow.parquet as pq

from k2.adapters.staging.store import ensure_staging_table
from k2.config import LakeSettings


def create_lake(settings: LakeSettings) -> None:
    s3 = boto3.client("s3", endpoint_url=settings.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket=settings.bucket)
    if settings.glue_catalog:
        glue = boto3.client("glue", endpoint_url=settings.endpoint_url, region_name="us-east-1")
        ensure_staging_table(
            glue, settings.glue_database, settings.staging_table, settings.staging_location
        )


def object_keys(bucket: str, prefix: str) -> list[str]:
    """Every key under `prefix`, past the 1,000 one listing page holds."""
    pages = (
        boto3.client("s3", region_name="us-east-1")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix=prefix)
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def objects(bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name="us-east-1")
    return {
        key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in object_keys(bucket, prefix)
    }


def landed_ids(settings: LakeSettings) -> list[int]:
    files = objects(settings.bucket, settings.staging_prefix)
    ids: list[int] = []
    for body in files.values():
        ids += pq.read_table(io.BytesIO(body))["source_sequence"].to_pylist()
    return sorted(ids)


def dead_letters(settings: LakeSettings) -> list[dict]:
    files = objects(settings.dead_letter_bucket, settings.dead_letter_prefix)
    return [json.loads(line) for body in files.values() for line in body.splitlines()]

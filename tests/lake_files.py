"""Read what the handler wrote, straight from S3 objects (works with in-process moto)."""

from __future__ import annotations

import io
import json

import boto3
import pyarrow.parquet as pq

from k2.config import LakeSettings


def objects(bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name="us-east-1")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


def landed_ids(settings: LakeSettings) -> list[int]:
    files = objects(settings.bucket, settings.staging_prefix)
    ids: list[int] = []
    for body in files.values():
        ids += pq.read_table(io.BytesIO(body))["source_sequence"].to_pylist()
    return sorted(ids)


def dead_letters(settings: LakeSettings) -> list[dict]:
    files = objects(settings.dead_letter_bucket, settings.dead_letter_prefix)
    return [json.loads(line) for body in files.values() for line in body.splitlines()]

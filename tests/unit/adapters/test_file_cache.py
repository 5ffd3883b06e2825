"""Local copies of immutable lake data files for the local query engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyarrow import fs

from k2.adapters.query.file_cache import DataFileCache

pytestmark = pytest.mark.unit


@pytest.fixture
def bucket(tmp_path: Path) -> tuple[Path, fs.FileSystem]:
    """A folder standing in for S3: "lake/<key>" resolves under it, as bucket/key does."""
    root = tmp_path / "s3"
    (root / "lake" / "data").mkdir(parents=True)
    return root, fs.SubTreeFileSystem(str(root), fs.LocalFileSystem())


def put(root: Path, name: str, size: int) -> str:
    (root / "lake" / "data" / name).write_bytes(b"x" * size)
    return f"s3://lake/data/{name}"


def test_a_file_is_downloaded_once_and_then_read_locally(tmp_path, bucket):
    root, s3 = bucket
    cache = DataFileCache(tmp_path / "cache", max_bytes=10_000)
    uri = put(root, "a.parquet", 100)
    (first,) = cache.local_paths([uri], s3)
    (root / "lake" / "data" / "a.parquet").unlink()  # the copy must not need the source again
    assert cache.local_paths([uri], s3) == [first]
    assert Path(first).read_bytes() == b"x" * 100


def test_least_recently_used_copies_go_first_and_never_one_in_use(tmp_path, bucket):
    root, s3 = bucket
    cache = DataFileCache(tmp_path / "cache", max_bytes=250)
    old, recent = put(root, "old.parquet", 100), put(root, "recent.parquet", 100)
    (old_copy,) = cache.local_paths([old], s3)
    os.utime(old_copy, (1, 1))
    cache.local_paths([recent], s3)
    cache.local_paths([put(root, "new.parquet", 120)], s3)  # 320 bytes: one copy must go
    held = sorted(p.name for p in (tmp_path / "cache").rglob("*.parquet"))
    assert held == ["new.parquet", "recent.parquet"]
    cache.local_paths([put(root, "huge.parquet", 300)], s3)  # too big to fit: kept while in use
    assert [p.name for p in (tmp_path / "cache").rglob("*.parquet")] == ["huge.parquet"]


def test_size_zero_turns_the_cache_off(monkeypatch):
    monkeypatch.setenv("K2_QUERY_CACHE_MB", "0")
    assert DataFileCache.from_env() is None
    monkeypatch.setenv("K2_QUERY_CACHE_MB", "1")
    monkeypatch.setenv("K2_QUERY_CACHE_DIR", "/somewhere")
    assert DataFileCache.from_env() == DataFileCache(Path("/somewhere"), 1024 * 1024)

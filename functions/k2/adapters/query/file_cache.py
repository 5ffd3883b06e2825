"""Local copies of the lake's data files, for the local query engine.

Iceberg never changes a data file once written (new data and rewrites get new, uniquely named
files), so a copy keyed by its S3 location can never go stale. Reading local copies spares
every query the S3 round trips: the first query over a range downloads its files, later ones
read disk. The directory is bounded; the least recently used copies are removed first.

K2_QUERY_CACHE_DIR picks the directory (default: a per-user folder in the temp directory,
which is also writable in Lambda); K2_QUERY_CACHE_MB its size, 0 to turn the cache off.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pyarrow import fs

DEFAULT_MAX_MB = 4096


@dataclass(frozen=True)
class DataFileCache:
    root: Path
    max_bytes: int

    @classmethod
    def from_env(cls) -> DataFileCache | None:
        """The cache the environment asks for, or None when it is turned off."""
        max_mb = int(os.environ.get("K2_QUERY_CACHE_MB", DEFAULT_MAX_MB))
        if max_mb <= 0:
            return None
        default = Path(tempfile.gettempdir()) / f"k2-lake-files-{os.getuid()}"
        return cls(Path(os.environ.get("K2_QUERY_CACHE_DIR", default)), max_mb * 1024 * 1024)

    def local_paths(self, uris: list[str], s3: fs.FileSystem) -> list[str]:
        """Local copies of the s3:// `uris`, downloading the ones not held yet."""
        paths = [self._fetch(uri, s3) for uri in uris]
        self._evict(keep=set(paths))
        return [str(path) for path in paths]

    def _fetch(self, uri: str, s3: fs.FileSystem) -> Path:
        location = urlparse(uri)
        path = self.root / location.netloc / location.path.lstrip("/")
        if path.exists():
            os.utime(path)  # recently used: evicted last
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        with (
            s3.open_input_stream(f"{location.netloc}{location.path}") as source,
            partial.open("wb") as target,
        ):
            shutil.copyfileobj(source, target, length=8 * 1024 * 1024)
        partial.replace(path)  # atomic: a reader never sees half a file
        return path

    def _evict(self, keep: set[Path]) -> None:
        """Remove least recently used copies until the cache fits (never one in use now)."""
        copies = [p for p in self.root.rglob("*.parquet") if p.is_file()]
        total = sum(p.stat().st_size for p in copies)
        for path in sorted(copies, key=lambda p: p.stat().st_mtime):
            if total <= self.max_bytes:
                break
            if path not in keep:
                total -= path.stat().st_size
                path.unlink(missing_ok=True)

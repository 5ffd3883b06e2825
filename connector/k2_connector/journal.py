"""An append-only, fsynced spill file for frames Kinesis cannot take yet.

Layout: `journal.bin` holds length-prefixed frames (4-byte big-endian length, then bytes);
`journal.offset` holds how many bytes of it have been delivered. Appends are fsynced before
they return, the offset only moves after Kinesis accepted the frames, so a crash or SIGTERM at
any point loses nothing: a restarted connector delivers the rest first. Once everything is
delivered, both files are truncated.

One connector at a time owns a journal directory: it holds an exclusive lock on
`journal.lock` (flock; over NFS, as on the EFS volume in AWS, Linux turns it into a POSIX lock
the file system enforces across hosts) until it closes the journal. A second connector
pointed at the same directory waits for it, or fails with JournalBusyError.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
from pathlib import Path

_LENGTH = struct.Struct(">I")


class JournalBusyError(RuntimeError):
    """Another connector holds the journal directory."""


class Journal:
    def __init__(self, directory: Path, wait_s: float = 0.0) -> None:
        """`wait_s`: how long to wait for another connector to release the directory."""
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _exclusive_lock(directory / "journal.lock", wait_s)
        self._data = directory / "journal.bin"
        self._offset_file = directory / "journal.offset"
        self._data.touch()
        self._offset = int(self._offset_file.read_text() or 0) if self._offset_file.exists() else 0
        self._size = self._data.stat().st_size  # kept in memory: asked for on every frame

    @property
    def pending_bytes(self) -> int:
        return self._size - self._offset

    def append(self, frames: list[bytes]) -> None:
        """Append and fsync once for the whole group."""
        record = b"".join(_LENGTH.pack(len(frame)) + frame for frame in frames)
        with self._data.open("ab") as out:
            out.write(record)
            out.flush()
            os.fsync(out.fileno())
        self._size += len(record)

    def peek(self, max_frames: int) -> tuple[list[bytes], int]:
        """Up to max_frames undelivered frames and the offset after them (for `commit`)."""
        frames: list[bytes] = []
        with self._data.open("rb") as source:
            source.seek(self._offset)
            position = self._offset
            while len(frames) < max_frames:
                header = source.read(_LENGTH.size)
                if len(header) < _LENGTH.size:
                    break  # end, or a torn length from a crash mid-append: not yet durable
                (length,) = _LENGTH.unpack(header)
                frame = source.read(length)
                if len(frame) < length:
                    break
                frames.append(frame)
                position += _LENGTH.size + length
        return frames, position

    def commit(self, offset: int) -> None:
        """Mark everything before `offset` delivered; truncate when all is delivered."""
        if offset >= self._size:
            self._data.write_bytes(b"")
            self._size = offset = 0
        self._offset = offset
        self._offset_file.write_text(str(offset))

    def close(self) -> None:
        """Release the directory for the next connector."""
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = -1


def _exclusive_lock(path: Path, wait_s: float) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise JournalBusyError(f"another connector holds {path}") from None
            time.sleep(0.5)

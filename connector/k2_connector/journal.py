"""An append-only, fsynced spill file for frames Kinesis cannot take yet.

Layout: `journal.bin` holds length-prefixed frames (4-byte big-endian length, then bytes);
`journal.offset` holds how many bytes of it have been delivered. Appends are fsynced before
they return, the offset only moves after Kinesis accepted the frames, so a crash or SIGTERM at
any point loses nothing: a restarted connector delivers the rest first. Once everything is
delivered, both files are truncated.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_LENGTH = struct.Struct(">I")


class Journal:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
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

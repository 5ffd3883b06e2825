"""Recording files: one `<local_receive_ns> <raw websocket text frame>` per line, gzip or plain.

This is the format of the recorded sessions in shared/data/binance, of `k2.binance.generator`
output and of `k2 record`. Any file in this format can be replayed.
"""

from __future__ import annotations

import gzip
import heapq
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_GZIP_MAGIC = b"\x1f\x8b"


class RecordingFormatError(ValueError):
    """A line that is not `<receive_ns> <frame>`."""


@dataclass(frozen=True)
class RecordedFrame:
    receive_ns: int
    frame: bytes


def open_recording(path: Path) -> io.BufferedIOBase:
    """Open plain or gzip (detected by content, not by name)."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else path.open("rb")


def read_recording(path: Path) -> Iterator[RecordedFrame]:
    with open_recording(path) as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            stamp, separator, frame = line.partition(b" ")
            if not separator or not stamp.isdigit():
                raise RecordingFormatError(f"{path}:{number}: expected '<receive_ns> <frame>'")
            yield RecordedFrame(int(stamp), frame)


def read_recordings(paths: Iterable[Path]) -> Iterator[RecordedFrame]:
    """Several recordings (e.g. one per symbol) merged in receive-time order, as one combined
    stream would have delivered them; each file must itself be in receive order."""
    return heapq.merge(*(read_recording(path) for path in paths), key=lambda f: f.receive_ns)


def write_recording(frames: Iterable[RecordedFrame], out: IO[bytes]) -> int:
    count = 0
    for recorded in frames:
        out.write(b"%d %s\n" % (recorded.receive_ns, recorded.frame))
        count += 1
    return count

"""Recording files: one `<local_receive_ns> <raw websocket text frame>` per line, gzip or plain.

This is the format of the recorded sessions in shared/data/binance, of `k2.binance.generator`
output and of `k2 record`. Any file in this format can be replayed.
"""

from __future__ import annotations

import gzip
import heapq
import io
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)
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
    """The frames of a recording. A file cut short (a recorder killed mid-write) ends where it
    was cut: a gzip stream that stops early ends after its last whole line, with a warning,
    and a last line cut inside its frame is read as the partial frame it is (normalize
    dead-letters it). A malformed line anywhere else is an error."""
    with open_recording(path) as lines:
        number = 0
        try:
            for number, raw in enumerate(lines, start=1):
                line = raw.rstrip(b"\r\n")
                if not line:
                    continue
                stamp, separator, frame = line.partition(b" ")
                if not separator or not stamp.isdigit():
                    if not raw.endswith(b"\n"):  # the cut came before the frame began
                        log.warning("%s ends mid-line at line %d: ignored", path, number)
                        return
                    raise RecordingFormatError(f"{path}:{number}: expected '<receive_ns> <frame>'")
                yield RecordedFrame(int(stamp), frame)
        except EOFError:
            log.warning("%s: the gzip stream ends early, after line %d", path, number)


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

"""Recording files as a recorder killed mid-write leaves them: read up to the cut, never a
traceback; a malformed line in the middle is still an error."""

from __future__ import annotations

import gzip

import pytest

from k2.binance.recording import RecordingFormatError, read_recording
from tests.support.frames import frame

pytestmark = pytest.mark.unit
LINES = [b"%d %s\n" % (1_723_161_254_000_000_000 + i, frame("spot_trade", t=i)) for i in range(50)]


def test_a_gzip_recording_cut_short_yields_every_whole_line_before_the_cut(tmp_path):
    whole = gzip.compress(b"".join(LINES))
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    frames = list(read_recording(path))
    assert 0 < len(frames) < len(LINES)
    assert [f.frame for f in frames] == [
        line.split(b" ", 1)[1].rstrip() for line in LINES[: len(frames)]
    ]


def test_a_last_line_cut_inside_its_frame_is_read_as_the_partial_frame(tmp_path):
    path = tmp_path / "cut.rec"
    path.write_bytes(b"".join(LINES) + LINES[0][:60])
    frames = list(read_recording(path))
    assert len(frames) == len(LINES) + 1
    assert frames[-1].frame == LINES[0][:60].split(b" ", 1)[1]  # normalize dead-letters it


def test_a_last_line_cut_before_its_frame_is_dropped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.rec"
    path.write_bytes(b"".join(LINES) + b"17231612")
    assert len(list(read_recording(path))) == len(LINES)
    assert "ends mid-line" in caplog.text


def test_a_malformed_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "bad.rec"
    path.write_bytes(LINES[0] + b"not a recording line\n" + LINES[1])
    with pytest.raises(RecordingFormatError, match=":2:"):
        list(read_recording(path))

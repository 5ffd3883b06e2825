"""`k2 soak`, shortened: a few cycles of generated frames at high speed through the whole
local pipeline; the report reconciles every cycle and carries the samples and the slope.
It belongs to the soak tier (`pytest -m soak`); the duration parser is a unit test."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from k2_devtools.cli.soak import duration_seconds
from tests.support.cli import K2


@pytest.mark.soak
@pytest.mark.integration
def test_a_short_soak_loses_nothing_and_reports_its_samples(tmp_path):
    result = subprocess.run(
        [*K2, "soak", "--duration", "15s", "--speed", "40", "--sample-every", "1",
         "--commit-every", "5", "--out", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["cycles"] >= 2  # ids shifted at least once
    assert summary["trades_sent"] == summary["cycles"] * 10_000
    assert all(s["missing"] == s["duplicated"] == 0 for s in summary["symbols"])
    report = json.loads(Path(summary["files"]["json"]).read_text())
    assert len(report["samples"]) >= 5
    assert {"rss_mb", "cpu_percent", "kinesis_backlog_records", "latency_p99_s"} <= set(
        report["samples"][0]
    )
    assert isinstance(report["memory_slope_mb_per_hour"], float)
    html = Path(summary["files"]["html"]).read_text()
    assert "Plotly.newPlot" in html
    assert '"name":"RSS (MB)"' in html  # one chart per sampled series


@pytest.mark.unit
@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("24h", 86_400)])
def test_durations_read_like_the_makefile_writes_them(text, seconds):
    assert duration_seconds(text) == seconds

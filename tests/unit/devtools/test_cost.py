"""`k2 cost`: the monthly cost model grows with trades, not with symbols, and says why."""

from __future__ import annotations

import json

import pytest

from k2_devtools.cli.main import main
from k2_devtools.cost import Deployment, Load, estimate

pytestmark = pytest.mark.unit


def test_the_bill_grows_with_trades_never_with_symbols():
    few = estimate(Load(1_000, 5_000, symbols=3, queries_per_day=0))
    many = estimate(Load(1_000, 5_000, symbols=1_500, queries_per_day=0))
    assert many.total == pytest.approx(few.total)
    busier = estimate(Load(4_000, 5_000, symbols=1_500, queries_per_day=0))
    assert busier.by_service()["Kinesis"] > many.by_service()["Kinesis"]
    assert busier.by_service()["Fargate"] == many.by_service()["Fargate"]


def test_shards_are_sized_for_the_sustained_peak():
    calm = estimate(Load(1_000, 5_000, 1_500))
    stormy = estimate(Load(1_000, 50_000, 1_500))
    shard_hours = {
        bill.load.peak_trades_per_s: next(x for x in bill.lines if x.item == "shard-hours")
        for bill in (calm, stormy)
    }
    assert "1 shard(s)" in shard_hours[5_000].how
    assert "9 shard(s)" in shard_hours[50_000].how


def test_on_demand_kinesis_is_priced_by_volume_and_stream_hours():
    on_demand = estimate(Load(1_000, 5_000, 1_500), deployment=Deployment(kinesis_mode="on-demand"))
    items = {line.item for line in on_demand.lines if line.service == "Kinesis"}
    assert items == {"on-demand stream", "data in", "data out"}


def test_prices_can_be_overridden_and_the_cli_prints_its_breakdown(tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"fargate_vcpu_hour": 0.0, "fargate_gb_hour": 0.0}))
    assert main(["cost", "--prices", str(prices), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["by_service"]["Fargate"] == 0.0
    assert body["total_usd"] == pytest.approx(sum(line["monthly_usd"] for line in body["lines"]),
                                              abs=0.01)  # fmt: skip
    assert main(["cost"]) == 0
    human = capsys.readouterr().out
    assert "total" in human
    assert "shard-hours" in human
    assert main(["cost", "--trades-per-second", "10", "--peak-trades-per-second", "5"]) == 2

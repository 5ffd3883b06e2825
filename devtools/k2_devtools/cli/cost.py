"""`k2 cost`: the deployed stack's monthly AWS cost for a load (k2_devtools.cost)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import click

WHOLE_SPOT_MARKET = {"trades_per_second": 1_000.0, "peak": 5_000.0, "symbols": 1_500}
MARKET_RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results" / "market.json"


@click.command(
    short_help="monthly AWS cost of the deployed stack for a load, with its breakdown",
    help="Monthly AWS cost of the deployed stack for a load: Kinesis, Lambda, S3, Athena, "
    "Fargate and the rest, each line with how it was computed. Defaults: the whole Binance "
    f"spot market at an assumed {WHOLE_SPOT_MARKET['trades_per_second']:,.0f} trades/s on "
    f"average and {WHOLE_SPOT_MARKET['peak']:,.0f} sustained at peak over "
    f"{WHOLE_SPOT_MARKET['symbols']:,} symbols. Prices: us-east-1 list prices in the code, "
    "dated; --prices FILE overrides any of them.",
)
@click.option("--trades-per-second", type=float, default=WHOLE_SPOT_MARKET["trades_per_second"],
              show_default=True, help="monthly average")  # fmt: skip
@click.option(
    "--peak-trades-per-second",
    type=float,
    default=WHOLE_SPOT_MARKET["peak"],
    show_default=True,
    help="sustained over minutes; sizes the Kinesis shards",
)
@click.option("--symbols", type=int, default=WHOLE_SPOT_MARKET["symbols"], show_default=True)
@click.option("--queries-per-day", type=int, default=1_000, show_default=True,
              help="Athena questions, each over one symbol's day")  # fmt: skip
@click.option("--kinesis-mode", type=click.Choice(["provisioned", "on-demand"]),
              default="provisioned", show_default=True)  # fmt: skip
@click.option("--prices", "prices_file", type=click.Path(exists=True, path_type=Path),
              help="JSON object overriding price keys (see k2_devtools/cost.py)")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="print the estimate as JSON")
def cost(
    trades_per_second: float, peak_trades_per_second: float, symbols: int, queries_per_day: int,
    kinesis_mode: str, prices_file: Path | None, as_json: bool,
) -> int:  # fmt: skip
    from k2_devtools.cost import PRICES_DATE, Deployment, Load, estimate, measured_from

    if peak_trades_per_second < trades_per_second:
        raise click.BadParameter(
            "the peak cannot be below the average", param_hint="--peak-trades-per-second"
        )
    load = Load(trades_per_second, peak_trades_per_second, symbols, queries_per_day)
    prices = json.loads(prices_file.read_text()) if prices_file else None
    measured, source = measured_from(MARKET_RESULTS)
    result = estimate(load, measured, replace(Deployment(), kinesis_mode=kinesis_mode), prices)
    if as_json:
        by_service = {name: round(usd, 2) for name, usd in result.by_service().items()}
        body = {
            "load": asdict(load),
            "prices_date": PRICES_DATE,
            "measured": asdict(measured),
            "measured_from": source,
            "total_usd": round(result.total, 2),
            "by_service": by_service,
            "lines": [asdict(line) for line in result.lines],
        }
        click.echo(json.dumps(body, indent=2))
        return 0
    click.echo(f"{trades_per_second:,.0f} trades/s on average, {peak_trades_per_second:,.0f} at "
               f"peak, {symbols:,} symbols, {queries_per_day:,} queries a day; us-east-1 "
               f"prices of {PRICES_DATE}; measured figures from {source}")  # fmt: skip
    click.echo("")
    for line in result.lines:
        click.echo(f"{line.service:<11}{line.item:<37}{line.monthly_usd:>9.2f} $  {line.how}")
    click.echo("")
    ranked = ", ".join(f"{name} {usd:.2f} $" for name, usd in result.by_service().items())
    click.echo(f"total {result.total:,.2f} $ a month ({ranked})")
    return 0

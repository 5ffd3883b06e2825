"""The query function as a test asks it (in-process, through its handler), and bars computed
independently of it: straight from Binance's strings with Decimal, no Arrow, no SQL."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from k2_devtools.local.lambda_context import LocalLambdaContext
from query import handler as query_function


def get(path: str, **params: str) -> tuple[int, Any]:
    event = {"rawPath": path, "queryStringParameters": params,
             "requestContext": {"http": {"method": "GET"}}}  # fmt: skip
    context: Any = LocalLambdaContext("query")
    response = query_function.lambda_handler(event, context)
    body = response["body"]
    if response["isBase64Encoded"]:
        return response["statusCode"], base64.b64decode(body)
    is_json = response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(body) if is_json else body


def bars_from_frames(trades: list[dict], symbol: str) -> list[dict]:
    """1m bars of `symbol` from trade payloads (Binance's `data` objects)."""
    minutes: dict[int, list[dict]] = defaultdict(list)
    for trade in trades:
        if trade["s"] == symbol:
            minutes[trade["T"] // 60_000].append(trade)
    bars = []
    for minute, group in sorted(minutes.items()):
        group.sort(key=lambda t: (t["T"], t["t"]))
        prices = [Decimal(t["p"]) for t in group]
        volume = sum((Decimal(t["q"]) for t in group), Decimal(0))
        quote = sum((Decimal(t["p"]) * Decimal(t["q"]) for t in group), Decimal(0))
        bars.append({
            "bar_start": f"{datetime.fromtimestamp(minute * 60, UTC):%Y-%m-%dT%H:%M:%SZ}",
            "open": prices[0], "high": max(prices), "low": min(prices), "close": prices[-1],
            "volume": volume, "trades": len(group),
            "vwap": (quote / volume).quantize(Decimal("1e-8"), ROUND_HALF_EVEN),
        })  # fmt: skip
    return bars


def comparable(row: dict) -> dict:
    keys = ("bar_start", "open", "high", "low", "close", "volume", "trades", "vwap")
    return {key: row[key] if key in ("bar_start", "trades") else Decimal(row[key]) for key in keys}

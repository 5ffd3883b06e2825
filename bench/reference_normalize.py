"""The baseline: normalization one message at a time, as the original K2 platform did it.

json.loads per frame, Decimal per price and quantity, a uuid4 and a dict per trade. Kept only
to be measured against `k2.binance.frames` + `k2.binance.tradev2` in the same run. It stops
at a list of dicts (no Arrow conversion), which flatters the baseline.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from k2.binance.symbols import split_symbol


def normalize_one(frame: bytes, ingestion: datetime) -> dict[str, Any] | None:
    message = json.loads(frame)
    data = message.get("data", message)
    if data.get("e") != "trade":
        return None
    parts = split_symbol(data["s"])
    return {
        "message_id": str(uuid.uuid4()),
        "trade_id": f"BINANCE-{data['t']}",
        "symbol": data["s"],
        "exchange": "BINANCE",
        "asset_class": "crypto",
        "timestamp": datetime.fromtimestamp(data["T"] / 1000, UTC),
        "price": Decimal(data["p"]),
        "quantity": Decimal(data["q"]),
        "currency": parts.quote,
        "side": "SELL" if data["m"] else "BUY",
        "trade_conditions": [],
        "source_sequence": data["t"],
        "ingestion_timestamp": ingestion,
        "platform_sequence": None,
        "vendor_data": {
            "event_time": str(data["E"]),
            "is_buyer_maker": str(data["m"]).lower(),
            "is_best_match": str(data.get("M")).lower(),
            "base_asset": parts.base,
            "quote_asset": parts.quote,
            "stream": message.get("stream"),
        },
    }


def normalize_all(frames: list[bytes]) -> list[dict[str, Any]]:
    ingestion = datetime.now(UTC)
    return [row for frame in frames if (row := normalize_one(frame, ingestion)) is not None]

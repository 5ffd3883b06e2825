"""TradeV2 rows written by hand, for schema and relation tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal


def tradev2_row(trade_id: int, **extra: object) -> dict:
    return {
        "message_id": f"00000000-0000-8000-8000-{trade_id:012d}", "trade_id": f"BINANCE-{trade_id}",
        "symbol": "BTCUSDT", "exchange": "BINANCE", "asset_class": "crypto",
        "timestamp": datetime(2024, 8, 8, 23, 54, 15, tzinfo=UTC),
        "price": Decimal("61837.63000000"), "quantity": Decimal("0.02000000"), "currency": "USDT",
        "side": "SELL", "trade_conditions": [], "source_sequence": trade_id,
        "ingestion_timestamp": datetime(2024, 8, 8, 23, 54, 16, tzinfo=UTC),
        "platform_sequence": None, "vendor_data": {"is_best_match": "true"}, **extra,
    }  # fmt: skip

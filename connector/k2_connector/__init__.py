"""The connector: Binance websocket -> Kinesis, the only always-on part of K2.

Everything it forwards is a raw Binance frame; parsing into TradeV2 happens downstream in the
normalize function. The connector only looks inside frames to deduplicate by (symbol, trade id)
and to detect gaps in Binance's contiguous trade ids.
"""

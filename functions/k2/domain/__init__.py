"""The pure domain: TradeV2, normalization, KPL, bars, the staging layout, the lake's rules,
query specs and soak arithmetic. No AWS client, handler or engine is imported here (a test
scans this folder)."""

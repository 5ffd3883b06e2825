"""Development tools around the Lambda code: the `k2` command, the embedded AWS endpoint, the
local event source mapping and stack, the Binance-compatible replay server and charts. Never
shipped in a function package or the connector image."""

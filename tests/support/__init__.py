"""What the tests share: the recorded session's facts, Binance wire samples and their builder,
Kinesis-shaped events, lake and stream readers, harnesses for the connector and the local
pipeline, and the resource guard plugin."""

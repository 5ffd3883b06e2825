"""Binance frames for tests: wire samples from tests/resources/binance, and the strict parser
that every fast path is held to.

A sample is one real frame (the combined-stream envelope, Binance's field order). `frame()`
and `payload()` return it as bytes with chosen fields replaced, so a test states only what it
is about (`frame("spot_trade", t=5)`) and everything else stays exactly Binance's format - the
format the columnar fast parser accepts.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson

from k2.binance.frames import _SlowPath

RESOURCES = Path(__file__).resolve().parents[1] / "resources" / "binance"


@cache
def sample(name: str) -> dict[str, Any]:
    """The wire sample `name` (resources/binance/<name>.json) as parsed JSON."""
    parsed: dict[str, Any] = orjson.loads((RESOURCES / f"{name}.json").read_bytes())
    return parsed


def payload(name: str, **fields: Any) -> bytes:
    """The sample's `data` as a raw stream sends it, with `fields` replaced (None removes a
    field; a new one goes last)."""
    return orjson.dumps(_with(sample(name)["data"], fields))


def frame(name: str, **fields: Any) -> bytes:
    """The sample in its combined-stream envelope, `fields` of `data` replaced; the stream
    name follows the symbol `s` (`ethusdt@trade` for s="ETHUSDT")."""
    data = _with(sample(name)["data"], fields)
    stream: str = sample(name)["stream"]
    if "s" in data:
        stream = f"{str(data['s']).lower()}@{stream.split('@', 1)[1]}"
    return orjson.dumps({"stream": stream, "data": data})


def _with(data: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    changed = {**data, **fields}
    return {key: value for key, value in changed.items() if value is not None}


def strict_parse(frames: list[bytes]) -> _SlowPath:
    """The strict per-frame parser over `frames`: the reference the fast paths must match."""
    slow = _SlowPath()
    for index, raw in enumerate(frames):
        slow.parse(index, raw)
    return slow

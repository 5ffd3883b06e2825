"""Routing partition keys to Kinesis shards by Kinesis' own rule (MD5 in a hash-key range)."""

from __future__ import annotations

import pytest

from k2.domain.shards import ShardRange, ShardRoutes, hash_key

pytestmark = pytest.mark.unit

TOP = 2**128 - 1


def even_shards(count: int) -> list[ShardRange]:
    step = (TOP + 1) // count
    return [
        ShardRange(i * step, TOP if i == count - 1 else (i + 1) * step - 1, f"shardId-{i:012d}")
        for i in range(count)
    ]


def test_every_key_routes_to_the_one_range_holding_its_hash():
    routes = ShardRoutes(even_shards(7))
    for i in range(2_000):
        key = f"spot:S{i:04d}USDT"
        shard = routes.route(key)
        assert shard is not None
        assert shard.start <= hash_key(key) <= shard.end


def test_the_hash_is_kinesis_md5_of_the_key():
    assert hash_key("") == int("d41d8cd98f00b204e9800998ecf8427e", 16)


def test_a_key_outside_every_known_range_has_no_route():
    lower_half = ShardRange(0, (TOP + 1) // 2 - 1, "shardId-0")
    routes = ShardRoutes([lower_half])
    keys = [f"k{i}" for i in range(200)]
    assert {routes.route(k) is None for k in keys} == {True, False}
    assert ShardRoutes([]).route("spot:BTCUSDT") is None

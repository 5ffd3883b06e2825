"""The 24-hour ticker read as each symbol's trade-id span of the last day."""

from __future__ import annotations

import pytest

from k2_connector.last_ids import IdSpan, parse_tickers


def test_each_symbol_s_first_and_last_id_and_minus_one_without_trades():
    body = [
        {"symbol": "BTCUSDT", "firstId": 10, "lastId": 99, "count": 90},
        {"symbol": "DEADUSDT", "firstId": -1, "lastId": -1, "count": 0},
    ]
    assert parse_tickers(body) == {"BTCUSDT": IdSpan(10, 99), "DEADUSDT": IdSpan(-1, -1)}


@pytest.mark.parametrize("body", [{"code": -1003, "msg": "Too many requests"}, [{"symbol": "X"}]])
def test_an_answer_of_another_shape_is_an_error(body):
    with pytest.raises(ValueError, match="24hr ticker"):
        parse_tickers(body)

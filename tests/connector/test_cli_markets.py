"""k2-connector's per-market values: `market=value;...`, or one value for every market."""

from __future__ import annotations

import pytest

from k2_connector.cli import per_market

pytestmark = pytest.mark.unit


def test_a_plain_value_applies_to_every_market():
    assert per_market("ALL", ["spot", "usdm"]) == {"spot": "ALL", "usdm": "ALL"}


def test_values_per_market_keep_their_own_symbols():
    text = "spot=BTCUSDT,ETHUSDT; coinm=BTCUSD_PERP"
    assert per_market(text, ["spot", "coinm"]) == {"spot": "BTCUSDT,ETHUSDT",
                                                   "coinm": "BTCUSD_PERP"}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "several", "message"),
    [
        ("spot=BTCUSDT", None, "no value for usdm"),
        ("spot=A;moon=B", None, "'moon' is not one of the markets"),
        ("ws://127.0.0.1:9000", "--ws-url", "with several markets write market=URL"),
    ],
)
def test_what_cannot_be_meant_is_refused_with_the_reason(text, several, message):
    with pytest.raises(ValueError, match=message):
        per_market(text, ["spot", "usdm"], several=several)


def test_a_url_may_be_given_for_some_markets_only():
    assert per_market("usdm=ws://replay", ["spot", "usdm"], several="--ws-url") == {
        "usdm": "ws://replay"
    }

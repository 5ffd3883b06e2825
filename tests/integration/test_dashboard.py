"""The dashboard `k2 local up` serves, in a real headless Chromium (Debian's, driven by
Playwright): it loads, lists the instruments, freshness and the completeness ledger, and
draws OHLCV bars whose values are the query function's; the pickers change the chart. A
screenshot of each state is written to the test's folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from k2.adapters.iceberg.committer import TradesCommitter
from k2.binance.generator import generate_frames
from k2_devtools.dashboard import PAGE_PATH, dashboard_pages
from k2_devtools.local.environment import scoped_environment
from k2_devtools.local.function_url import FunctionUrlServer
from query import handler as query_function
from tests.support.events import normalize_frames
from tests.support.query import get

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium "
                       "(make browser installs it)"),
]  # fmt: skip
# As the machine's notes advise: no background connections a closed network would refuse.
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture
def dashboard(server_lake) -> Iterator[str]:
    """Spot BTCUSDT and ETHUSDT and the USD-M BTCUSDT perpetual, committed, behind a local
    function URL with the dashboard's pages."""
    for number, (market, symbols) in enumerate([("spot", ["BTCUSDT", "ETHUSDT"]),
                                                 ("usdm", ["BTCUSDT"])]):  # fmt: skip
        frames = [f.frame for f in generate_frames(symbols, 2_000, seed=5, market=market)]
        first = 10**20 + number * 10**6
        normalize_frames(frames, market, first)
    TradesCommitter(server_lake).run()
    query_function.close_engines()
    with scoped_environment({"QUERY_ENGINE": "local"}):
        pages = dashboard_pages(server_lake)
        with FunctionUrlServer(query_function.lambda_handler, "query", pages=pages) as server:
            yield server.url


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1300})
        yield page
        browser.close()


def drawn(page: Any) -> dict[str, Any]:
    """What the chart shows once it is drawn: the plotly traces' values and the request."""
    page.wait_for_selector('#chart[data-state="ready"]', timeout=30_000)
    return page.evaluate("""() => {
        const chart = document.getElementById("chart");
        const [candles, volume] = chart.data;
        return { ...window.k2Bars, x: candles.x, open: candles.open, high: candles.high,
                 low: candles.low, close: candles.close, volume: volume.y };
    }""")


def assert_bars_are_the_query_functions(shown: dict[str, Any]) -> None:
    bars = shown["bars"]
    asked = {key: shown[key] for key in ("symbols", "market", "interval", "start", "end")}
    status, answer = get("/ohlcv", **asked)
    assert status == 200, answer
    assert answer["rows"] == bars  # the page drew what the query function answers
    assert shown["x"] == [bar["bar_start"] for bar in bars]
    for key in ("open", "high", "low", "close", "volume"):
        assert shown[key] == [float(bar[key]) for bar in bars], key


def test_the_dashboard_draws_the_query_functions_bars_and_its_pickers_change_them(
    dashboard, browser_page, tmp_path
):
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{dashboard}{PAGE_PATH}")
    first = drawn(page)
    assert (first["market"], first["symbols"], first["interval"]) == ("spot", "BTCUSDT", "1m")
    assert len(first["bars"]) >= 2
    assert_bars_are_the_query_functions(first)
    page.screenshot(path=tmp_path / "dashboard-1m.png", full_page=True)

    symbols = page.locator("#symbols tbody tr").all_inner_texts()
    assert [line.split("\t")[:2] for line in symbols] == [
        ["spot", "BTCUSDT"], ["usdm", "BTCUSDT"], ["spot", "ETHUSDT"]]  # fmt: skip
    assert page.locator("#freshness tbody tr").count() == 3
    ledger = page.locator("#completeness tbody tr").all_inner_texts()
    assert len(ledger) == 3  # one instrument-day each
    assert all(line.split("\t")[-1] == "0" for line in ledger)  # no id missing

    page.select_option("#interval", "5m")
    five = drawn(page)
    assert five["interval"] == "5m"
    assert len(five["bars"]) < len(first["bars"]) or len(first["bars"]) == 1
    assert_bars_are_the_query_functions(five)

    page.select_option("#instrument", "usdm|BTCUSDT")
    futures = drawn(page)
    assert (futures["market"], futures["symbols"]) == ("usdm", "BTCUSDT")
    assert_bars_are_the_query_functions(futures)
    assert futures["open"] != five["open"]  # the perpetual's own prices, not spot's
    page.screenshot(path=tmp_path / "dashboard-usdm-5m.png", full_page=True)
    assert (tmp_path / "dashboard-usdm-5m.png").stat().st_size > 20_000
    assert errors == []

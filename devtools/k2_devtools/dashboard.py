"""The lake dashboard `k2 local up` serves at /dashboard/: instruments, freshness, the
completeness ledger and an OHLCV chart with instrument and interval pickers.

The page (web/dashboard.html) is static: it asks the query function for everything it shows
(this origin, or `?api=<function URL>` when deployed as a static page beside a deployed query
function), and draws with plotly.js, served here from the plotly package (MIT licence) so the
page needs no network beyond the query function. The completeness ledger is not a query kind
(it lives in the Iceberg table's properties, which the Athena engine does not read): this
server answers it from the lake at /dashboard/completeness, and the page says where to find
it when that path is absent.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import orjson

from k2.config import LakeSettings
from k2_devtools.local.function_url import Page

PAGE_PATH = "/dashboard/"


def dashboard_pages(lake: LakeSettings) -> dict[str, Page]:
    """The dashboard's paths for FunctionUrlServer(pages=...)."""
    html = resources.files("k2_devtools.web").joinpath("dashboard.html").read_bytes()
    plotly_js = _plotly_js().read_bytes()
    # the same page without the trailing slash: its relative paths made absolute
    rooted = html.replace(b'src="plotly.min.js"', b'src="/dashboard/plotly.min.js"').replace(
        b'fetch("completeness")', b'fetch("/dashboard/completeness")'
    )
    return {
        PAGE_PATH: lambda: (200, "text/html; charset=utf-8", html),
        "/dashboard": lambda: (200, "text/html; charset=utf-8", rooted),
        PAGE_PATH + "plotly.min.js": lambda: (200, "text/javascript", plotly_js),
        PAGE_PATH + "completeness": lambda: _completeness(lake),
        "/favicon.ico": lambda: (204, "image/x-icon", b""),  # browsers ask; none to give
    }  # fmt: skip


def _completeness(lake: LakeSettings) -> tuple[int, str, bytes]:
    """Every instrument-day of the completeness ledger, as `k2 lake completeness --json`."""
    from k2.adapters.iceberg import completeness_ledger
    from k2.domain.lake.completeness import instrument_days

    days = [day.as_json() for day in instrument_days(completeness_ledger(lake))]
    return 200, "application/json", orjson.dumps({"instrument_days": days})


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

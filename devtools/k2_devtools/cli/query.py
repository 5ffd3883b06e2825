"""`k2 query KIND ...`: ask the lake from a terminal, through the query function itself.

With `--url` the request goes over HTTP to a running function URL (`k2 local up`, or a
deployed one: non-loopback URLs are signed with SigV4 for AWS_IAM auth). Without it the query
handler runs in-process against AWS_ENDPOINT_URL's lake (DuckDB) or, with `--engine athena`,
against Athena. Either way the answer is the query function's, byte for byte.
"""

from __future__ import annotations

import base64
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import click
import orjson

from k2.domain.query.spec import PARAMETERS

HELP = {
    "trades": "trades of one symbol in a time range, paged (--cursor)",
    "ohlcv": "OHLCV bars with volume, quote volume, trade count and VWAP"
    " (futures: market trades only unless --trades all)",
    "latest": "the last N trades per symbol",
    "symbols": "every symbol with its market, first/last trade time and count",
    "freshness": "lag between now and the newest trade per symbol",
    "sql": "one read-only SELECT (Athena dialect) over the trades table",
}


def _kind_command(kind: str, parameters: set[str]) -> click.Command:
    """`k2 query KIND`: one option per parameter the query function takes for KIND."""

    def invoke(**options: Any) -> int:
        return run_query(kind, options)

    params: list[click.Parameter] = [
        click.Option([f"--{name}"], metavar=name.upper()) for name in sorted(parameters)
    ]
    params += [
        click.Option(
            ["--url"],
            default=lambda: os.environ.get("K2_QUERY_URL"),
            help="a running query function URL (default: $K2_QUERY_URL)",
        ),
        click.Option(
            ["--engine"],
            type=click.Choice(["local", "athena"]),
            default=None,
            help="without --url: local (DuckDB over AWS_ENDPOINT_URL's lake) or "
            "athena; default: local when AWS_ENDPOINT_URL is set",
        ),
        click.Option(
            ["--format", "output"],
            type=click.Choice(["table", "json", "csv", "parquet"]),
            default="table",
            show_default=True,
        ),
        click.Option(["--json", "as_json"], is_flag=True, help="same as --format json"),
        click.Option(
            ["--out"], type=click.Path(path_type=Path), help="write the result to this file"
        ),
    ]
    if kind == "ohlcv":
        params.append(
            click.Option(
                ["--chart"],
                type=click.Path(path_type=Path),
                metavar="OUT.html|OUT.png",
                help="also draw a candlestick chart with volume (HTML/SVG, or PNG)",
            )
        )
    return click.Command(
        kind, callback=invoke, params=params, help=HELP[kind], short_help=HELP[kind]
    )


@click.group(
    short_help="query the lake through the query function",
    help="Ask the lake through the query function: over HTTP with --url (k2 local up, or a "
    "deployed function URL), else in-process against AWS_ENDPOINT_URL's lake or Athena.",
)
def query() -> None:
    """The query function's kinds."""


for _kind, _parameters in PARAMETERS.items():
    query.add_command(_kind_command(_kind, _parameters))


def run_query(kind: str, options: dict[str, Any]) -> int:
    names = PARAMETERS[kind]
    params = {name: value for name, value in options.items() if name in names and value is not None}
    output = "json" if options["as_json"] else options["output"]
    wire = "json" if output == "table" else output
    ask = _asker(options["url"], options["engine"])
    status, body = ask(kind, params | {"format": wire})
    if status != 200:
        message = orjson.loads(body).get("error", body.decode(errors="replace"))
        print(f"k2 query {kind}: {message} (HTTP {status})", file=sys.stderr)
        return 2 if status == 400 else 1
    chart: Path | None = options.get("chart")
    if chart:
        as_json = body if wire == "json" else ask(kind, params | {"format": "json"})[1]
        _draw(chart, orjson.loads(as_json)["rows"], params)
    out: Path | None = options["out"]
    if out:
        out.write_bytes(body)
        print(f"{len(body):,} bytes written to {out}", file=sys.stderr)
    elif output == "table":
        print(format_table(orjson.loads(body)))
    elif output == "parquet":
        print("k2 query: parquet output needs --out FILE", file=sys.stderr)
        return 2
    else:
        sys.stdout.buffer.write(body if body.endswith(b"\n") else body + b"\n")
    return 0


def _draw(chart: Path, bars: list[dict[str, Any]], params: dict[str, str]) -> None:
    from k2_devtools.chart import candlestick_html, candlestick_png

    market = params.get("market", "spot")
    title = f"{params.get('symbols', '')} {params.get('interval', '1m')}"
    title = title if market == "spot" else f"{market}:{title}"
    if chart.suffix.lower() == ".png":
        chart.write_bytes(candlestick_png(bars))
    else:
        chart.write_text(candlestick_html(bars, title))
    print(f"chart written to {chart}", file=sys.stderr)


Asker = Callable[[str, dict[str, str]], tuple[int, bytes]]


def _asker(url: str | None, engine: str | None) -> Asker:
    if url:
        return lambda kind, params: _over_http(f"{url.rstrip('/')}/{kind}?{urlencode(params)}")
    return lambda kind, params: _in_process(kind, params, engine)


def _in_process(kind: str, params: dict[str, str], engine: str | None) -> tuple[int, bytes]:
    from k2_devtools.local.environment import scoped_environment
    from k2_devtools.local.function_url import function_url_event
    from k2_devtools.local.lambda_context import LocalLambdaContext
    from query import handler  # the deployed handler, run here

    chosen = engine or ("local" if os.environ.get("AWS_ENDPOINT_URL") else "athena")
    event = function_url_event("GET", f"/{kind}?{urlencode(params)}", {}, b"", "127.0.0.1")
    with scoped_environment({"QUERY_ENGINE": chosen, "POWERTOOLS_LOG_LEVEL": "WARNING"}):
        context: Any = LocalLambdaContext("query")
        response = handler.lambda_handler(event, context)
    body = response["body"]
    data = base64.b64decode(body) if response["isBase64Encoded"] else body.encode()
    return int(response["statusCode"]), data


def _over_http(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=_sigv4_headers(url))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - http(s) only
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _sigv4_headers(url: str) -> dict[str, str]:
    """Function URLs with AWS_IAM auth need a SigV4 signature; localhost does not."""
    if urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}:
        return {}
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit("k2 query: no AWS credentials to sign the function URL request")
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials, "lambda", session.region_name or "us-east-1").add_auth(request)
    return dict(request.headers.items())


def format_table(body: dict[str, Any], max_rows: int = 50) -> str:
    """Rows as aligned text columns; the first `max_rows`, then how many more."""
    columns, rows = body["columns"], body["rows"]
    shown = [[_cell(row.get(column)) for column in columns] for row in rows[:max_rows]]
    widths = [max([len(c)] + [len(r[i]) for r in shown]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in shown]
    more = len(rows) - len(shown)
    lines.append(f"({len(rows):,} rows{f', {more:,} not shown; use --format csv' if more else ''})")
    if body.get("next_cursor"):
        lines.append(f"next page: --cursor {body['next_cursor']}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()[:40]
    return str(value)

"""`k2 query KIND ...`: ask the lake from a terminal, through the query function itself.

With `--url` the request goes over HTTP to a running function URL (`k2 local up`, or a
deployed one: non-loopback URLs are signed with SigV4 for AWS_IAM auth). Without it the query
handler runs in-process against AWS_ENDPOINT_URL's lake (DuckDB) or, with `--engine athena`,
against Athena. Either way the answer is the query function's, byte for byte.

An answer with no rows is said so on stderr with the likely reason (a symbol the lake does
not hold on that market, or a time range before or after its trades) and exits 1; the exit
codes are k2_devtools.cli.errors'.
"""

from __future__ import annotations

import base64
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

import click
import orjson

from k2.domain.instrument import MARKETS
from k2.domain.query.spec import BAR_TRADES, INTERVAL_SECONDS, NEXT_CURSOR_HEADER, PARAMETERS
from k2_devtools.cli.errors import DataProblem, EnvironmentProblem, UsageProblem

HELP = {
    "trades": "trades of one symbol in a time range, paged (--cursor, or --all to the end)",
    "ohlcv": "OHLCV bars with volume, quote volume, trade count and VWAP"
    " (futures: market trades only unless --trades all)",
    "latest": "the last N trades per symbol",
    "symbols": "every symbol with its market, first/last trade time and count",
    "freshness": "lag between now and the newest trade per symbol",
    "sql": "one read-only SELECT (Athena dialect) over the trades table",
}
EXAMPLES = {
    "trades": "k2 query trades --symbol BTCUSDT --start 2024-08-08 --end 2024-08-10 "
    "--format csv --all --out btc.csv",
    "ohlcv": "k2 query ohlcv --symbols BTCUSDT,ETHUSDT --interval 1m --start 2024-08-08 "
    "--end 2024-08-10 --chart bars.html",
    "latest": "k2 query latest --symbols BTCUSDT --limit 5 --market all",
    "symbols": "k2 query symbols --market all",
    "freshness": "k2 query freshness --json",
    "sql": 'k2 query sql --sql "SELECT side, count(*) AS n FROM trades GROUP BY side"',
}
_WHEN = "ISO 8601 (UTC unless it has an offset) or epoch milliseconds"
PARAMETER_HELP = {
    "symbol": "one symbol, e.g. BTCUSDT or BTCUSD_PERP",
    "symbols": "comma-separated symbols (latest: default every symbol)",
    "market": f"{', '.join(MARKETS)}, a comma list of them, or all  [default: spot]",
    "start": f"inclusive start, {_WHEN}  [default: a day before --end]",
    "end": f"exclusive end, {_WHEN}  [default: now]",
    "limit": "rows per page (trades, up to 10,000) or trades per symbol (latest)",
    "cursor": "continue after the page that printed this cursor",
    "interval": f"bar length: {', '.join(INTERVAL_SECONDS)}  [default: 1m]",
    "trades": f"which futures trades bars count: {' or '.join(BAR_TRADES)}  [default: market]",
    "sql": "one SELECT over `trades` (Athena/Trino dialect)",
}
REQUIRED = {"trades": {"symbol"}, "ohlcv": {"symbols"}, "sql": {"sql"}}
# `--symbols` works everywhere: the trades kind's one symbol answers to it too
FLAGS = {"symbol": ["--symbol", "--symbols"]}
ROWS_KINDS = {"trades", "ohlcv", "latest"}  # an empty answer to these is worth a warning


def _kind_command(kind: str, parameters: set[str]) -> click.Command:
    """`k2 query KIND`: one option per parameter the query function takes for KIND."""

    def invoke(**options: Any) -> int:
        return run_query(kind, options)

    params: list[click.Parameter] = [
        click.Option(
            [*FLAGS.get(name, [f"--{name}"]), name],
            metavar=name.upper(),
            help=PARAMETER_HELP[name],
            required=name in REQUIRED.get(kind, set()),
        )
        for name in sorted(parameters)
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
    if kind == "trades":
        params.append(
            click.Option(
                ["--all", "every_page"],
                is_flag=True,
                help="follow the cursor to the last page (csv, parquet)",
            )
        )
    if kind == "ohlcv":
        params.append(
            click.Option(
                ["--chart"],
                type=click.Path(path_type=Path),
                metavar="OUT.html|OUT.png",
                help="also draw candlesticks with volume: interactive HTML, or PNG",
            )
        )
    epilog = f"Example:\n\n  {EXAMPLES[kind]}"
    return click.Command(
        kind, callback=invoke, params=params, help=HELP[kind], short_help=HELP[kind], epilog=epilog
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
    out: Path | None = options["out"]
    if output == "parquet" and not out:
        raise UsageProblem(f"query {kind}", "parquet output needs --out FILE")
    ask = Asker(kind, options["url"], options["engine"])
    if options.get("every_page"):
        return _every_page(kind, ask, params, wire, out)
    body = _answer(ask, params | {"format": wire}).body
    answer = orjson.loads(body) if wire == "json" else None
    chart: Path | None = options.get("chart")
    if chart:
        answer = answer or orjson.loads(_answer(ask, params | {"format": "json"}).body)
        _draw(kind, chart, answer["rows"], params)
    if out:
        out.write_bytes(body)
        print(f"{len(body):,} bytes written to {out}", file=sys.stderr)
    elif output == "table":
        assert answer is not None
        _print_table(answer)
    else:
        sys.stdout.buffer.write(body if body.endswith(b"\n") else body + b"\n")
    if kind in ROWS_KINDS and _is_empty(answer, body, wire):
        _explain_empty(kind, ask, params)
    return 0


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def _answer(ask: Asker, params: dict[str, str]) -> Reply:
    """A 200 answer; otherwise the service's reason, as a usage problem when the request was
    refused as the user's (400), else as a data problem."""
    reply = ask(params)
    status, body = reply.status, reply.body
    if status == 200:
        return reply
    try:
        message = orjson.loads(body).get("error", "")
    except orjson.JSONDecodeError:
        message = body.decode(errors="replace")[:200]
    problem = UsageProblem if status == 400 else DataProblem
    raise problem(ask.command, f"{message} (HTTP {status})")


def _every_page(kind: str, ask: Asker, params: dict[str, str], wire: str, out: Path | None) -> int:
    """Follow the cursor to the last page, writing each as it comes: CSV keeps the first
    header only, Parquet appends row groups of the one TradeV2 schema."""
    if wire not in ("csv", "parquet"):
        raise UsageProblem(f"query {kind}", "--all writes csv or parquet: add --format csv|parquet")
    sink = out.open("wb") if out else sys.stdout.buffer
    pages = rows = 0
    writer: Any = None
    try:
        for page, count in _pages(ask, params, wire):
            pages, rows = pages + 1, rows + count
            if wire == "csv":
                sink.write(page if pages == 1 else page.split(b"\n", 1)[1])
            else:
                writer = _append_parquet(writer, page, sink)
            print(f"  page {pages:,}: {rows:,} rows", file=sys.stderr, flush=True)
    finally:
        if writer is not None:
            writer.close()
        if out:
            sink.close()
    print(f"{rows:,} rows in {pages:,} pages{f' written to {out}' if out else ''}", file=sys.stderr)
    if rows == 0:
        _explain_empty(kind, ask, params)
    return 0


def _pages(ask: Asker, params: dict[str, str], wire: str) -> Iterator[tuple[bytes, int]]:
    """(page body, rows in it) to the last page, one request a page: the query function
    sends the next page's cursor in a header with CSV and Parquet answers."""
    cursor: str | None = params.get("cursor")
    while True:
        reply = _answer(ask, params | ({"cursor": cursor} if cursor else {}) | {"format": wire})
        yield reply.body, _rows_in(reply.body, wire)
        cursor = reply.headers.get(NEXT_CURSOR_HEADER)
        if not cursor:
            return


def _rows_in(page: bytes, wire: str) -> int:
    if wire == "csv":
        return max(0, page.count(b"\n") - 1)  # the header line
    import io

    import pyarrow.parquet as pq

    return int(pq.ParquetFile(io.BytesIO(page)).metadata.num_rows)


def _append_parquet(writer: Any, page: bytes, sink: Any) -> Any:
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(page))
    writer = writer or pq.ParquetWriter(sink, table.schema)
    writer.write_table(table)
    return writer


def _is_empty(answer: Any, body: bytes, wire: str) -> bool:
    """No rows in the answer (a Parquet answer's rows are not counted: its bytes were said)."""
    if answer is not None:
        return not answer["rows"]
    return wire == "csv" and body.count(b"\n") <= 1  # the header alone


def _explain_empty(kind: str, ask: Asker, params: dict[str, str]) -> None:
    """No rows: say why, as far as the lake can tell, and exit 1 (a data problem)."""
    market = params.get("market", "spot")
    wanted = params.get("symbol") or params.get("symbols") or ""
    held = orjson.loads(_answer(ask, {"market": market, "format": "json", "_kind": "symbols"}).body)
    known = {row["symbol"]: row for row in held["rows"]}
    unknown = [s for s in wanted.upper().split(",") if s and s not in known]
    if unknown:
        hint = "k2 query symbols --market all lists what it holds"
        reason = f"the lake holds no {market} trades of {', '.join(unknown)} ({hint})"
    elif wanted and known:
        spans = [
            f"{s} {known[s]['first_trade']} .. {known[s]['last_trade']}"
            for s in wanted.upper().split(",")
            if s in known
        ]
        reason = f"nothing in that time range; the lake holds {'; '.join(spans)}"
    else:
        reason = f"the lake holds no {market} trades yet"
    raise DataProblem(f"query {kind}", f"no rows: {reason}")


def _draw(kind: str, chart: Path, bars: list[dict[str, Any]], params: dict[str, str]) -> None:
    if not bars:
        print(f"k2 query {kind}: no bars, so no chart written to {chart}", file=sys.stderr)
        return
    from k2_devtools.chart import candlestick_html, candlestick_png

    market = params.get("market", "spot")
    title = f"{params.get('symbols', '')} {params.get('interval', '1m')} bars ({market})"
    if chart.suffix.lower() == ".png":
        chart.write_bytes(candlestick_png(bars, title))
    else:
        chart.write_text(candlestick_html(bars, title))
    print(f"chart written to {chart}", file=sys.stderr)


class Asker:
    """Asks the query function for one kind: parameters in, (HTTP status, body) out. A
    `_kind` parameter asks another kind instead, as the empty-answer hint does."""

    def __init__(self, kind: str, url: str | None, engine: str | None) -> None:
        self.kind, self.url, self.engine = kind, url, engine
        self.command = f"query {kind}"

    def __call__(self, params: dict[str, str]) -> Reply:
        chosen = params.get("_kind", self.kind)
        rest = {name: value for name, value in params.items() if name != "_kind"}
        if self.url:
            return _over_http(f"{self.url.rstrip('/')}/{chosen}?{urlencode(rest)}", chosen)
        return _in_process(chosen, rest, self.engine)


def _in_process(kind: str, params: dict[str, str], engine: str | None) -> Reply:
    chosen = engine or ("local" if os.environ.get("AWS_ENDPOINT_URL") else "athena")
    _check_environment(kind, chosen)
    from k2_devtools.local.environment import scoped_environment
    from k2_devtools.local.function_url import function_url_event
    from k2_devtools.local.lambda_context import LocalLambdaContext
    from query import handler  # the deployed handler, run here

    event = function_url_event("GET", f"/{kind}?{urlencode(params)}", {}, b"", "127.0.0.1")
    with scoped_environment({"QUERY_ENGINE": chosen, "POWERTOOLS_LOG_LEVEL": "CRITICAL"}):
        context: Any = LocalLambdaContext("query")
        response = handler.lambda_handler(event, context)
    body = response["body"]
    data = base64.b64decode(body) if response["isBase64Encoded"] else body.encode()
    headers = {name.lower(): value for name, value in response.get("headers", {}).items()}
    return Reply(int(response["statusCode"]), headers, data)


def _check_environment(kind: str, engine: str) -> None:
    """What the in-process engines need, checked before the handler turns its absence into
    an internal error."""
    if engine == "local" and not os.environ.get("AWS_ENDPOINT_URL"):
        raise EnvironmentProblem(
            f"query {kind}",
            "--engine local reads AWS_ENDPOINT_URL's "
            "lake, and it is not set: export the endpoint `k2 local up` "
            "prints, or pass --url",
        )
    if engine == "athena":
        import boto3

        if not boto3.Session().region_name:
            raise EnvironmentProblem(
                f"query {kind}",
                "no AWS region for Athena: set "
                "AWS_REGION, or AWS_ENDPOINT_URL for a local lake, or "
                "pass --url (e.g. the URL `k2 local up` prints)",
            )


def _over_http(url: str, kind: str) -> Reply:
    request = urllib.request.Request(url, headers=_sigv4_headers(url, kind))  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - http(s) only
            headers = {name.lower(): value for name, value in response.headers.items()}
            return Reply(int(response.status), headers, response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, {}, error.read())
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        raise EnvironmentProblem(
            f"query {kind}",
            f"cannot reach {base} ({reason}); is "
            "`k2 local up` running there? Check --url or "
            "$K2_QUERY_URL",
        ) from error


def _sigv4_headers(url: str, kind: str) -> dict[str, str]:
    """Function URLs with AWS_IAM auth need a SigV4 signature; localhost does not."""
    if urlsplit(url).hostname in {"127.0.0.1", "localhost", "::1"}:
        return {}
    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise EnvironmentProblem(
            f"query {kind}",
            "no AWS credentials to sign the function "
            "URL request: set AWS_PROFILE or AWS_ACCESS_KEY_ID",
        )
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(credentials, "lambda", session.region_name or "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _print_table(body: dict[str, Any], max_rows: int = 50) -> None:
    """Rows as a rich table on stdout: the first `max_rows`, then how many more; times and
    lag notes that explain old data (a replay, a stopped feed)."""
    from rich.console import Console
    from rich.table import Table

    columns, rows = body["columns"], body["rows"]
    # a pipe or a log gets whole values, not an 80-column squeeze
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 1_000)
    if rows:
        table = Table(*columns, show_edge=False, header_style="bold")
        for row in rows[:max_rows]:
            table.add_row(*(_cell(row.get(column)) for column in columns))
        console.print(table)
    more = len(rows) - min(len(rows), max_rows)
    tail = f", {more:,} not shown; use --format csv --out FILE" if more else ""
    console.print(f"({len(rows):,} rows{tail})", highlight=False)
    if body.get("next_cursor"):
        console.print(f"next page: --cursor {body['next_cursor']} (or --all)", highlight=False)
    lags = [row["lag_seconds"] for row in rows if isinstance(row.get("lag_seconds"), int | float)]
    if lags and min(lags) > 86_400:
        console.print(
            f"note: the newest trade is {min(lags) / 86_400:,.0f} days old: replayed "
            "data, or a feed that stopped",
            highlight=False,
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()[:40]
    return str(value)

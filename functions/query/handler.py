"""query: the lake's HTTP API, a Lambda function URL (payload 2.0) with AWS_IAM auth.

GET /trades|/ohlcv|/latest|/symbols|/freshness?...  and  GET or POST /sql
`format=json|csv|parquet` (default json). A bad request, or a query the engine refuses as the
caller's fault (unknown column, bad cast, overflow), is 400 with the reason; a query past a
memory limit, or an answer over the 6 MB a function URL returns, is 413; past its time limit
504; no free query worker 503; anything else is 500 with a request id and no internals.
The same handler runs in AWS (Athena) and under `k2 local up` (DuckDB over the lake, each
query in a worker process when QUERY_WORKERS is set: k2.adapters.query.isolated).
"""

from __future__ import annotations

import base64
import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2.config import QuerySettings
from k2.domain.query.engine import (
    QueryBusyError,
    QueryEngine,
    QueryResourceError,
    QueryTimeoutError,
)
from k2.domain.query.planner import plan
from k2.domain.query.results import FORMATS, render, shape
from k2.domain.query.spec import NEXT_CURSOR_HEADER, QueryError, parse_request

logger = Logger(service="query", logger_handler=logging.StreamHandler(sys.stderr))


MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # what a function URL returns at most (buffered)


_ENGINES: dict[QuerySettings, QueryEngine] = {}  # one per configuration, kept warm


def engine(settings: QuerySettings) -> QueryEngine:
    if settings not in _ENGINES:
        _ENGINES[settings] = _new_engine(settings)
    return _ENGINES[settings]


def warm_up(timeout_s: float = 60.0) -> bool:
    """Start the engine this environment configures and wait for it (a local host's query
    workers import DuckDB first); whether it started in `timeout_s`."""
    started = engine(QuerySettings.from_env())
    wait_started: Callable[[float], bool] | None = getattr(started, "wait_started", None)
    return wait_started is None or wait_started(timeout_s)


def close_engines() -> None:
    """Let go of the engines (a local host stopping: its query worker processes end)."""
    while _ENGINES:
        _, closing = _ENGINES.popitem()
        close: Callable[[], None] | None = getattr(closing, "close", None)
        if close is not None:
            close()


def _new_engine(settings: QuerySettings) -> QueryEngine:
    """Chosen by QUERY_ENGINE; imports deferred so the Lambda package needs no DuckDB and a
    local run needs no awswrangler."""
    if settings.engine == "local":
        from k2.adapters.query.duckdb_engine import LocalQueryEngine

        if not settings.workers:
            return LocalQueryEngine(settings.lake)
        from k2.adapters.query.isolated import IsolatedQueryEngine, WorkerLimits
        from k2.adapters.query.shared import SharedAnswers

        limits = WorkerLimits(workers=settings.workers, memory_mb=settings.worker_memory_mb)
        # DuckDB's own limit at a quarter of the worker's address space (its imports alone
        # reserve ~1.5 GB of it): DuckDB refuses first, with a clear error; the address-space
        # limit catches what DuckDB does not account for
        local = functools.partial(
            LocalQueryEngine, settings.lake, memory_limit_mb=settings.worker_memory_mb // 4
        )
        workers = IsolatedQueryEngine(local, limits)
        return SharedAnswers(workers)
    if settings.engine == "athena":
        from k2.adapters.query.athena_engine import AthenaQueryEngine

        return AthenaQueryEngine(settings.lake.glue_database, settings.athena_workgroup,
                                 staging_table=settings.lake.staging_table)  # fmt: skip
    raise ValueError(f"QUERY_ENGINE must be 'athena' or 'local', not {settings.engine!r}")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = QuerySettings.from_env()
    try:
        kind, params, output = parse_http(event)
        spec = parse_request(kind, params)
        table = engine(settings).execute(plan(spec), settings.timeout_s)
        result = shape(spec, table)
        body = render(result, output)
    except QueryError as error:
        return _error(400, str(error))
    except QueryResourceError as error:
        return _error(413, str(error))
    except QueryBusyError as error:
        return _error(503, str(error))
    except QueryTimeoutError as error:
        return _error(504, str(error))
    except Exception:
        logger.exception("query failed")
        return _error(500, f"internal error; request id {context.aws_request_id}")
    if len(body) > MAX_RESPONSE_BYTES:
        return _error(413, f"the answer is {len(body) / 2**20:.1f} MB, over the 6 MB a function "
                      "URL returns: narrow the query, or page it (trades: cursor)")  # fmt: skip
    response = _response(200, body, FORMATS[output])
    if result.next_cursor:  # CSV and Parquet pages carry their cursor here (JSON: in the body)
        response["headers"][NEXT_CURSOR_HEADER] = result.next_cursor
    return response


def parse_http(event: dict[str, Any]) -> tuple[str, dict[str, str], str]:
    """(query kind, parameters, output format) from a function URL request."""
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET")
    kind = event.get("rawPath", "/").strip("/")
    params = dict(event.get("queryStringParameters") or {})
    if method == "POST":
        params |= _body_params(event)
    elif method != "GET":
        raise QueryError(f"method {method} is not allowed; use GET (or POST for /sql)")
    output = params.pop("format", "json")
    if output not in FORMATS:
        raise QueryError(f"format must be one of {', '.join(FORMATS)}")
    return kind, params, output


def _body_params(event: dict[str, Any]) -> dict[str, str]:
    raw = event.get("body") or ""
    try:
        text = base64.b64decode(raw).decode() if event.get("isBase64Encoded") else raw
    except (UnicodeDecodeError, ValueError) as error:
        raise QueryError("the request body is not UTF-8 text") from error
    if not text.lstrip().startswith("{"):
        return {"sql": text}
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise QueryError(f"body is not valid JSON: {error}") from error
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        raise QueryError('body must be a JSON object of strings, e.g. {"sql": "SELECT ..."}')
    return body


def _response(status: int, body: bytes, content_type: str) -> dict[str, Any]:
    binary = not content_type.startswith(("application/json", "text/"))
    return {
        "statusCode": status,
        "headers": {"content-type": content_type},
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "isBase64Encoded": binary,
    }


def _error(status: int, message: str) -> dict[str, Any]:
    return _response(status, orjson.dumps({"error": message}), "application/json")

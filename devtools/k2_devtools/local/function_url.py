"""A Lambda function URL on localhost: HTTP requests become payload-2.0 events for a handler
invoked in-process, and its response becomes the HTTP response, as AWS does it.

Used by `k2 local up` to serve the query function; the handler runs unchanged. `pages` are
paths served beside it (the dashboard): exact GET paths answered by a function of their own.
"""

from __future__ import annotations

import base64
import logging
import resource
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import waitress

from k2_devtools.local.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# a page: () -> (HTTP status, content type, body)
Page = Callable[[], tuple[int, str, bytes]]
MAX_BODY = 6 * 1024 * 1024  # Lambda's synchronous payload limit


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes,
                       source_ip: str) -> dict[str, Any]:  # fmt: skip
    """The event a function URL sends (payload format 2.0). Repeated query parameters are
    joined with commas, as AWS does."""
    url = urlsplit(target)
    params: dict[str, str] = {}
    for key, value in parse_qsl(url.query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path or "/",
        "rawQueryString": url.query,
        "headers": {key.lower(): value for key, value in headers.items()},
        "queryStringParameters": params or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": headers.get("Host", "localhost"),
            "http": {
                "method": method,
                "path": url.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body).decode() if body else None,
        "isBase64Encoded": bool(body),
    }


class FunctionUrlServer:
    """Serve `handler` on 127.0.0.1:`port` (0: a free one) in a background thread.

    waitress does the HTTP: a bounded pool of `threads` invoking the handler, at most
    `connection_limit` open connections (beyond that it stops accepting until one closes),
    idle, half-open or slow connections closed after `channel_timeout_s`, bodies over
    Lambda's 6 MB answered 413 before they are read, a Content-Length that is not a plain
    number answered 400, a POST without one 411. Slow or half-open clients cost a socket each
    (the soft open-files limit is raised for them), never a thread.
    """

    def __init__(
        self, handler: Handler, function_name: str, port: int = 0, threads: int = 8,
        connection_limit: int = 1_000, channel_timeout_s: int = 10,
        pages: dict[str, Page] | None = None,
    ) -> None:  # fmt: skip
        _allow_open_files(connection_limit + 1_000)  # the host's own files and sockets too
        self._server = waitress.create_server(
            _wsgi_app(handler, function_name, pages or {}), host="127.0.0.1", port=port,
            threads=threads,
            connection_limit=connection_limit, channel_timeout=channel_timeout_s,
            cleanup_interval=2, max_request_body_size=MAX_BODY, asyncore_use_poll=True,
            ident="k2-local", clear_untrusted_proxy_headers=True,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._server.run, name="function-url")
        # requests queued behind busy threads are normal under load (they wait, then are
        # answered or refused as busy); waitress would log every queue depth as a warning
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.effective_port}"

    def __enter__(self) -> FunctionUrlServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the listening socket and every connection, then stop the threads."""
        server = self._server
        while server._map:  # as webtest's StopableWSGIServer stops waitress
            for channel in list(server._map.values()):
                if channel is server:  # no close event to handle: waitress would log one
                    channel.close()
                else:
                    channel.handle_close()
        server.task_dispatcher.shutdown()
        self._thread.join()


def _allow_open_files(wanted: int) -> None:
    """Raise the soft open-files limit towards `wanted` (laptops often start at 256 or 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _wsgi_app(
    handler: Handler, function_name: str, pages: dict[str, Page]
) -> Callable[..., Iterable[bytes]]:
    """The WSGI face of a function URL: the request as a payload-2.0 event, the handler's
    response as the HTTP response; a GET of one of `pages` answered by that page."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        page = pages.get(environ.get("PATH_INFO", "/"))
        if method == "GET" and page is not None:
            status, content_type, data = page()
            answer = [("Content-Type", content_type), ("Content-Length", str(len(data)))]
            start_response(f"{status} {HTTPStatus(status).phrase}", answer)
            return [data]
        if method not in ("GET", "POST"):
            start_response("405 Method Not Allowed", [("Content-Type", "application/json")])
            return [b'{"error": "use GET, or POST for /sql"}']
        if method == "POST" and "CONTENT_LENGTH" not in environ:
            start_response("411 Length Required", [("Content-Type", "application/json")])
            return [b'{"error": "a POST needs a Content-Length"}']
        body = environ["wsgi.input"].read()
        target = environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING"):
            target += "?" + environ["QUERY_STRING"]
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}  # fmt: skip
        event = function_url_event(method, target, headers, body, environ.get("REMOTE_ADDR", ""))
        response = handler(event, LocalLambdaContext(function_name, timeout_s=30))
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        status = int(response.get("statusCode", 200))
        start_response(f"{status} {HTTPStatus(status).phrase}",
                       [*response.get("headers", {}).items(),
                        ("Content-Length", str(len(data)))])  # fmt: skip
        return [data]

    return app

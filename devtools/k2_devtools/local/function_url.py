"""A Lambda function URL on localhost: HTTP requests become payload-2.0 events for a handler
invoked in-process, and its response becomes the HTTP response, as AWS does it.

Used by `k2 local up` to serve the query function; the handler runs unchanged.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from k2_devtools.local.lambda_context import LocalLambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
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
    """Serve `handler` on 127.0.0.1:`port` (0: a free one) in a background thread."""

    def __init__(self, handler: Handler, function_name: str, port: int = 0) -> None:
        self._server = ThreadingHTTPServer(
            ("127.0.0.1", port), _request_class(handler, function_name)
        )
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="function-url")

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FunctionUrlServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _request_class(handler: Handler, function_name: str) -> type[BaseHTTPRequestHandler]:
    class FunctionUrlRequest(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._invoke()

        def do_POST(self) -> None:
            self._invoke()

        def _invoke(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"content-type": "application/json"},
                            b'{"error": "request body is over 6 MB"}')  # fmt: skip
                return
            body = self.rfile.read(length) if length else b""
            event = function_url_event(self.command, self.path, dict(self.headers.items()),
                                       body, self.client_address[0])  # fmt: skip
            response = handler(event, LocalLambdaContext(function_name, timeout_s=30))
            payload = response.get("body") or ""
            data = (
                base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
            )
            self._reply(response.get("statusCode", 200), response.get("headers", {}), data)

        def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the stack's own progress line says what is going on

    return FunctionUrlRequest

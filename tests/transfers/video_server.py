"""A small, real HTTP server (stdlib, one thread per connection) that misbehaves on request.

The archive's hard cases are all about what a CDN does on the wire: dropping a connection in
the middle of a body, ignoring ``Range``, announcing more bytes than it sends, answering an
expired link with 403 or with an HTML page and status 200. A mocked transport cannot show
how ``httpx`` surfaces those; a socket can.

Each route is registered under a unique path with its behaviour; every request is recorded
(path, ``Range`` and ``Authorization`` headers) so tests can assert how a download was resumed.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class Route:
    """How one path answers.

    :param body: the bytes served (the whole file).
    :param status: status of a full answer (200 normally; 403/404/410 for expired links).
    :param content_type: ``Content-Type`` header.
    :param ranges: honour ``Range`` with 206 (and advertise ``Accept-Ranges: bytes``).
    :param drop_after: for the first ``drops`` answers, close the connection after this many
        body bytes of that answer (the ``Content-Length`` still announces all of them).
    :param drops: how many answers are cut short.
    :param short_by: every answer announces its full length but sends this many bytes fewer.
    :param etag: ``ETag`` header (changing it between answers simulates a replaced file).
    :param redirect_to: answer ``302 Found`` with this ``Location`` instead of the body.
    :param content_length: send ``Content-Length``; without it the body ends when the server
        closes the connection (``Connection: close``), so only counting bytes can bound it.
    """

    body: bytes
    status: int = 200
    content_type: str | None = "video/mp4"
    ranges: bool = True
    drop_after: int | None = None
    drops: int = 0
    short_by: int = 0
    etag: str | None = '"v1"'
    redirect_to: str | None = None
    content_length: bool = True
    served: int = 0


@dataclass
class Hit:
    path: str
    range: str | None
    authorization: str | None


@dataclass
class VideoServer:
    """Start with :meth:`start`; ``url(path)`` gives a route's address."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, body: bytes, **behaviour: Any) -> str:
        self.routes[path] = Route(body=body, **behaviour)
        return self.url(path)

    def url(self, path: str) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.path == path.split("?")[0]]

    def start(self) -> VideoServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with owner._lock:
                    owner.hits.append(Hit(path, self.headers.get("Range"), self.headers.get("Authorization")))
                    route = owner.routes.get(path)
                    if route is not None:
                        route.served += 1
                        answer_number = route.served
                if route is None:
                    self._send_simple(404, b"no such route", "text/plain")
                    return
                self._answer(route, answer_number)

            def _send_simple(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _answer(self, route: Route, answer_number: int) -> None:
                if route.redirect_to is not None:
                    self.send_response(302)
                    self.send_header("Location", route.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, start = route.body, 0
                match = _RANGE.fullmatch(self.headers.get("Range", "")) if route.ranges else None
                status = route.status
                if match and route.status == 200:
                    start = int(match.group(1))
                    status = 206
                payload = body[start:]
                self.send_response(status)
                if route.content_type:
                    self.send_header("Content-Type", route.content_type)
                if route.content_length:
                    self.send_header("Content-Length", str(len(payload)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                if route.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if route.etag:
                    self.send_header("ETag", route.etag)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                cut = len(payload) - route.short_by if route.short_by else None
                if route.drop_after is not None and answer_number <= route.drops:
                    cut = route.drop_after if cut is None else min(cut, route.drop_after)
                if cut is None:
                    self.wfile.write(payload)
                    return
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.close_connection = True  # the server closes the socket: the body is cut short

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="video-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

"""A fault proxy in front of SeaweedFS's S3 port: fail only the ledger's writes, or only uploads.

``s3-freeze`` stops the whole SeaweedFS; issue 24 also asks for the archive's upload and the
budget ledger's conditional write failing *on their own* for a while. SeaweedFS has no switch
for that, so the chaos connection (``aws_chaos``, see ``cluster_stack``) points at this proxy,
which forwards every request unchanged (the ``Host`` header too: SigV4 signs it) and, while a
fault is on, answers some writes itself with S3's ``503 ServiceUnavailable`` (retryable, as a
real S3 throttling or outage answers) without forwarding them:

* ``fail_ledger``: every ``PUT`` under the ledger prefix (the ledger's conditional writes,
  ``If-Match`` / ``If-None-Match``); its reads still work, and so do archive uploads;
* ``fail_uploads``: every ``PUT`` / ``POST`` outside that prefix (``PutObject``, multipart create,
  part and complete); reads and the ledger still work.

Stdlib only (a threaded ``http.server``): it is a test harness, not a product part.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from types import TracebackType

#: Headers that belong to one hop, not to the request (never forwarded).
HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect"})
UNAVAILABLE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class S3FaultProxy:
    """``with S3FaultProxy(upstream, ledger_prefix="bucket/prefix/") as proxy: proxy.endpoint_url``."""

    def __init__(self, upstream: str, *, ledger_prefix: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        #: ``<bucket>/<prefix>/`` of the ledger objects (path-style addressing).
        self.ledger_prefix = "/" + ledger_prefix.strip("/") + "/"
        self.fail_ledger = False
        self.fail_uploads = False
        #: ``(method, path)`` of every request answered with a fault.
        self.failed: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> S3FaultProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def fails(self, method: str, path: str) -> bool:
        """Whether a request is answered with a fault now (``path`` as sent, with its query)."""
        if method not in ("PUT", "POST"):
            return False
        ledger = urlsplit(path).path.startswith(self.ledger_prefix)
        return (self.fail_ledger and ledger) or (self.fail_uploads and not ledger)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # the stdlib's name
                """Quiet: the S3 client logs what matters."""

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline().strip():  # trailers, then the blank line
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _any(self) -> None:
                body = self._body()
                if proxy.fails(self.command, self.path):
                    with proxy._lock:
                        proxy.failed.append((self.command, self.path))
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(UNAVAILABLE)))
                    self.end_headers()
                    self.wfile.write(UNAVAILABLE)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=300)
                try:
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    head = self.command == "HEAD"  # its Content-Length is the object's: kept
                    for key, value in answer.getheaders():
                        if key.lower() not in HOP_HEADERS and (head or key.lower() != "content-length"):
                            self.send_header(key, value)
                    if not head:
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if not head:
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        return Handler

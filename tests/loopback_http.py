"""A file server on 127.0.0.1 for offline download tests: Range requests, injected faults, request log."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RANGE_REQUEST = re.compile(r"bytes=(\d+)-")


class LoopbackServer:
    """Serves ``files`` (name -> bytes) at ``url(name)`` until :meth:`stop` (or the ``with`` block ends).

    Test knobs: ``honour_range`` False answers every request with the whole file (200);
    ``cut_after`` = N sends the full headers but only N body bytes, then drops the connection (once);
    ``send_only`` = N sends only N body bytes with a Content-Length of N, a clean end short of the file
    (and of a 206's Content-Range); ``etag`` is sent as the ETag of every response; ``trickle_s`` sends
    the body one byte at a time, this many seconds apart. ``requests`` records each request's headers.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.honour_range = True
        self.cut_after: int | None = None
        self.send_only: int | None = None
        self.etag: str | None = None
        self.trickle_s: float | None = None
        self.requests: list[dict[str, str]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)  # stop() then returns within 20 ms
        self._thread.start()

    def url(self, name: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.requests.append(dict(self.headers))
            body = server.files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404, "no such file")
                return
            start = self._range_start(len(body))
            if start is None:
                return
            payload = body[start:][:server.send_only]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if server.cut_after is not None:
                payload, server.cut_after = payload[:server.cut_after], None
                self.close_connection = True
            self._write(payload)

        def send_response(self, code: int, message: str | None = None) -> None:
            super().send_response(code, message)
            if server.etag is not None:
                self.send_header("ETag", server.etag)

        def _write(self, payload: bytes) -> None:
            """Send ``payload`` at once, or a byte every ``trickle_s`` until the client hangs up."""
            delay = server.trickle_s
            if delay is None:
                self.wfile.write(payload)
                return
            for index in range(len(payload)):
                try:
                    self.wfile.write(payload[index:index + 1])
                except OSError:
                    return
                time.sleep(delay)

        def _range_start(self, size: int) -> int | None:
            """Send the status line (200, 206 or a complete 416); the body's start, None after a 416."""
            match = RANGE_REQUEST.fullmatch(self.headers.get("Range", ""))
            if not (server.honour_range and match):
                self.send_response(200)
                return 0
            start = int(match[1])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            return start

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    return Handler

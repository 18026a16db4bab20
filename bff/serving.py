"""The one threaded development server (``bff serve``, ``bff authserver``, ``bff demo-api``): it
stops gracefully on SIGTERM and Ctrl-C.

On the signal it stops accepting connections, lets the requests already running finish (their
response bodies included) for up to ``GRACE_SECONDS``, then exits. Production runs gunicorn,
whose ``--graceful-timeout`` does the same. Each request is logged once, by ``bff.access``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from bff.logs import ClosingBody

log = logging.getLogger(__name__)

GRACE_SECONDS = 30.0


class InFlight:
    """WSGI middleware counting requests until their response body is closed."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._count = 0
        self._idle = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        with self._idle:
            self._count += 1
        try:
            body = self._app(environ, start_response)
        except BaseException:
            self._leave()
            raise
        return ClosingBody(body, self._leave)

    def _leave(self) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    @property
    def count(self) -> int:
        with self._idle:
            return self._count

    def wait_idle(self, timeout: float) -> bool:
        """True when every request finished within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own request line: ``bff.access`` already writes one."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def serve(app: Callable[..., Iterable[bytes]], port: int, host: str = "127.0.0.1",
          name: str = "bff", grace: float = GRACE_SECONDS,
          request_handler: type[WSGIRequestHandler] = _QuietRequestHandler) -> None:
    in_flight = InFlight(app)
    server = make_server(host, port, in_flight, threaded=True, request_handler=request_handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("%s listening on http://%s:%d", name, host, port)
    server.serve_forever()
    if in_flight.count:
        log.info("%s stopping: waiting for %d request(s) in flight", name, in_flight.count)
    if not in_flight.wait_idle(grace):
        log.warning("%s stopped with %d request(s) unfinished after %.0fs", name,
                    in_flight.count, grace)
    server.server_close()
    log.info("%s stopped", name)

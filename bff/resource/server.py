"""Running the demo API as a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from werkzeug.serving import BaseWSGIServer, make_server

from bff.resource.demo_api import create_app

log = logging.getLogger(__name__)


def make_demo_server(issuer: str, port: int, audience: str = "demo-api") -> BaseWSGIServer:
    """A threaded server, bound but not yet serving: for callers that manage its lifetime."""
    return make_server("127.0.0.1", port, create_app(issuer, audience), threaded=True)


def serve_demo_api(issuer: str, port: int, audience: str = "demo-api") -> None:
    """Serves until SIGTERM or SIGINT, then lets requests in flight finish and returns.

    The server runs on a worker thread because ``shutdown()`` waits for ``serve_forever()`` to
    return, which it cannot do if called from a signal handler on the serving thread.
    """
    server = make_demo_server(issuer, port, audience)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    worker = threading.Thread(target=server.serve_forever, name="demo-api", daemon=True)
    try:
        worker.start()
        log.info("demo API on http://127.0.0.1:%d accepting tokens from %s for %s",
                 server.server_port, issuer, audience)
        stop.wait()
        log.info("demo API stopping")
    finally:
        server.shutdown()
        server.server_close()
        worker.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

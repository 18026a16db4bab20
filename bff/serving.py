"""A threaded development server that stops cleanly on SIGTERM and Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from flask import Flask
from werkzeug.serving import make_server

log = logging.getLogger(__name__)


def serve(app: Flask, port: int, host: str = "127.0.0.1", name: str = "bff") -> None:
    server = make_server(host, port, app, threaded=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("%s listening on http://%s:%d", name, host, port)
    server.serve_forever()
    server.server_close()

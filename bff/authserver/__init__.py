"""The reference OAuth2/OIDC authorization server (`bff authserver`)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from werkzeug.serving import WSGIRequestHandler, make_server

log = logging.getLogger(__name__)


class _QuietRequestHandler(WSGIRequestHandler):
    """Access log without query strings: /logout carries an ID token in its query."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s %s', self.command, path, code, size)


def serve(config_path: str | None, port: int) -> None:
    """Run the server on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    from bff.authserver.app import create_app
    from bff.authserver.settings import load_settings

    settings = load_settings(config_path)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True,
                         request_handler=_QuietRequestHandler)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.warning("authorization server %s listening on http://127.0.0.1:%d", settings.issuer, port)
    server.serve_forever()
    server.server_close()

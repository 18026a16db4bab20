"""Running the demo API as a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bff.resource.demo_api import create_app

log = logging.getLogger(__name__)


def make_demo_server(issuer: str, port: int, audience: str = "demo-api") -> BaseWSGIServer:
    """A threaded server, bound but not yet serving: for callers that manage its lifetime."""
    return make_server("127.0.0.1", port, create_app(issuer, audience), threaded=True)


def serve_demo_api(issuer: str, port: int, audience: str = "demo-api") -> None:
    """Serves until SIGTERM or SIGINT, then lets requests in flight finish and returns."""
    from bff.serving import serve

    log.info("demo API accepting tokens from %s for %s", issuer, audience)
    serve(create_app(issuer, audience), port, name="demo API",
          request_handler=WSGIRequestHandler)

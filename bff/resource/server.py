"""Running the demo API as a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bff.resource.demo_api import StockCheck, create_app
from bff.resource.inventory_api import create_inventory_app
from bff.resource.revocations import RevocationList

log = logging.getLogger(__name__)


def make_demo_server(issuer: str, port: int, audience: str = "demo-api") -> BaseWSGIServer:
    """A threaded server, bound but not yet serving: for callers that manage its lifetime."""
    return make_server("127.0.0.1", port, create_app(issuer, audience), threaded=True)


def serve_demo_api(issuer: str, port: int, audience: str = "demo-api",
                   stock: StockCheck | None = None,
                   revocations: RevocationList | None = None, dpop: str = "allowed") -> None:
    """Serves until SIGTERM or SIGINT, then lets requests in flight finish and returns."""
    from bff.serving import serve

    log.info("demo API accepting tokens from %s for %s%s", issuer, audience,
             "; orders are checked against the inventory" if stock else "")
    serve(create_app(issuer, audience, stock=stock, revocations=revocations, dpop=dpop), port,
          name="demo API",
          request_handler=WSGIRequestHandler)


def serve_inventory_api(issuer: str, port: int, audience: str,
                        revocations: RevocationList | None = None, dpop: str = "allowed") -> None:
    """The demo inventory API, served like the orders API."""
    from bff.serving import serve

    log.info("inventory API accepting tokens from %s for %s", issuer, audience)
    serve(create_inventory_app(issuer, audience, revocations, dpop), port, name="inventory API",
          request_handler=WSGIRequestHandler)

"""The reference OAuth2/OIDC authorization server (`bff authserver`)."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


class _PathOnlyRequestHandler(WSGIRequestHandler):
    """Access log without query strings: /logout carries an ID token in its query."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s %s', self.command, path, code, size)


def serve(config_path: str | None, port: int) -> None:
    """Run the server on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    from bff.authserver.app import create_app
    from bff.authserver.settings import load_settings
    from bff.serving import serve as serve_app

    settings = load_settings(config_path)
    serve_app(create_app(settings), port, name=f"authorization server {settings.issuer}",
              request_handler=_PathOnlyRequestHandler)

"""Serving the SPA: a built directory, or in development a running dev server, under a strict CSP.

Built mode (``frontend_dir``): ``index.html`` answers requests for client-side routes, but a
missing script or stylesheet, or a fetch that does not accept HTML, stays a 404 (served as HTML it
would fail with a baffling MIME error and hide the broken deploy). Names that carry a content hash
never change, so browsers may keep them a year; everything else, ``index.html`` first, is
revalidated so a deploy shows at once.

Dev mode (``frontend_dev_server``): every request that is not for ``/bff``, ``/api`` or the health
endpoints goes to the dev server (Vite, ...), so its on-the-fly transforms keep working while the
SPA stays on the BFF's origin. Only a few harmless request headers cross: the session cookie never
reaches the dev server. Its hot-reload websocket cannot pass a WSGI server, so the dev server's
client must connect to it directly (Vite: ``server.hmr.clientPort``); the dev policy allows that.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit

import urllib3
from flask import Blueprint, Response, abort, request, send_from_directory
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError
from werkzeug.datastructures import MIMEAccept
from werkzeug.security import safe_join

from bff.errors import UpstreamTimeout, UpstreamUnavailable
from bff.runtime import runtime
from bff.settings import CspAdditions, Settings

log = logging.getLogger(__name__)

DEFAULT_CSP: CspAdditions = (
    ("default-src", ("'self'",)),
    ("script-src", ("'self'",)),
    ("style-src", ("'self'",)),
    ("img-src", ("'self'", "data:")),
    ("connect-src", ("'self'",)),
    ("font-src", ("'self'",)),
    ("object-src", ("'none'",)),
    ("base-uri", ("'none'",)),
    ("form-action", ("'self'",)),
    ("frame-ancestors", ("'none'",)),
)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# webpack, Angular, Parcel: a hex content hash anywhere in the name (``main.3f9a1c2b.js``).
HEX_HASH = re.compile(r"(?:^|[.\-_])(?=[0-9a-f]*[0-9])[0-9a-f]{8,}(?=[.\-_])")
# Vite and Rollup: ``assets/<name>-<8 base64url chars>.<ext>``; a word like ``settings`` is no hash.
VITE_HASH = re.compile(r"-(?=[A-Za-z0-9_-]*[A-Z0-9_])[A-Za-z0-9_-]{8}\.[A-Za-z0-9]+$")
RESERVED_PREFIXES = ("api", "bff")

DEV_FORWARDED_HEADERS = (
    "Accept", "Accept-Encoding", "Accept-Language", "Cache-Control", "If-Modified-Since",
    "If-None-Match", "If-Range", "Pragma", "Range", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
    "Sec-Fetch-Site", "User-Agent",
)
DEV_DROPPED_RESPONSE_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "te", "trailer", "transfer-encoding",
    "upgrade", "set-cookie", "content-security-policy", "content-security-policy-report-only",
    "x-frame-options", "access-control-allow-origin", "access-control-allow-credentials",
    "access-control-allow-headers", "access-control-allow-methods",
})
CHUNK = 64 * 1024


@lru_cache(maxsize=16)
def content_security_policy(additions: CspAdditions = ()) -> str:
    """The default policy with ``additions`` appended to their directives.

    A fetch directive the default lacks starts from what it would have inherited (``worker-src``
    from ``script-src``, ``media-src`` from ``default-src``), so adding a source never takes
    ``'self'`` away; ``'none'`` goes once something is allowed.
    """
    directives = {name: list(sources) for name, sources in DEFAULT_CSP}
    for name, sources in additions:
        current = directives.get(name)
        if current is None:
            current = list(_inherited(name, directives))
        current = [s for s in current if s != "'none'"]
        current.extend(s for s in sources if s not in current)
        directives[name] = current
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _inherited(name: str, directives: dict[str, list[str]]) -> list[str]:
    if name.endswith(("-src-elem", "-src-attr")):
        parent = name[: -len("-elem")]
    elif name in ("worker-src", "frame-src"):
        parent = "child-src" if "child-src" in directives else (
            "script-src" if name == "worker-src" else "default-src")
    elif name.endswith("-src") and name != "default-src":
        parent = "default-src"
    else:
        return []
    return directives.get(parent) or _inherited(parent, directives)


def dev_server_additions(dev_server: str, base_url: str) -> CspAdditions:
    """What a dev server's page needs: Vite injects an inline preamble and ``<style>`` elements,
    and its hot-reload client opens a websocket straight to the dev server's port."""
    dev = urlsplit(dev_server)
    scheme = "wss" if dev.scheme == "https" else "ws"
    hosts = dict.fromkeys(h for h in (dev.hostname, urlsplit(base_url).hostname) if h)
    sockets = tuple(f"{scheme}://{host}:{dev.port or 80}" for host in hosts)
    return (
        ("script-src", ("'unsafe-inline'",)),
        ("style-src", ("'unsafe-inline'",)),
        ("connect-src", sockets),
    )


def cache_control(path: str) -> str:
    """A year for content-hashed names, which a new build never reuses; revalidate the rest."""
    name = path.rsplit("/", 1)[-1]
    if HEX_HASH.search(name) or (path.startswith("assets/") and VITE_HASH.search(name)):
        return IMMUTABLE
    return REVALIDATE


def accepts_html(accept: MIMEAccept) -> bool:
    """A page may be the answer: a navigation (``text/html``), ``*/*``, or no Accept at all."""
    return not accept or accept.quality("text/html") > 0 \
        or accept.quality("application/xhtml+xml") > 0


def serves_index(path: str, accept: MIMEAccept) -> bool:
    """A missing path gets ``index.html`` only when HTML is acceptable and it names no asset."""
    guessed, _ = mimetypes.guess_type(path)
    return accepts_html(accept) and guessed in (None, "text/html")


def is_reserved(path: str) -> bool:
    """``/api`` and ``/bff`` belong to the BFF: an unknown one there is a 404, never the SPA."""
    return path.split("/", 1)[0] in RESERVED_PREFIXES


def is_hidden(path: str) -> bool:
    """Dotfiles (``.env``, ``.git/``) in a build folder are never served; ``.well-known`` is."""
    return any(part.startswith(".") and part != ".well-known" for part in path.split("/"))


def _policy() -> str:
    settings = runtime().settings
    additions = settings.content_security_policy_extra
    if settings.frontend_dev_server:
        additions = dev_server_additions(settings.frontend_dev_server, settings.base_url) \
            + additions
    return content_security_policy(additions)


def create_blueprint(directory: str) -> Blueprint:
    """Serve the built SPA in ``directory``."""
    root = str(directory)
    blueprint = Blueprint("frontend", __name__)

    @blueprint.get("/", defaults={"path": ""})
    @blueprint.get("/<path:path>")
    def spa(path: str) -> Response:
        if is_reserved(path) or is_hidden(path):
            abort(404)
        file = safe_join(root, path) if path else None
        if file is not None and Path(file).is_file():
            response = send_from_directory(root, path)
            response.headers["Cache-Control"] = cache_control(path)
        elif path and not serves_index(path, request.accept_mimetypes):
            abort(404)
        else:
            response = send_from_directory(root, "index.html")
            response.headers["Cache-Control"] = REVALIDATE
        response.headers["Content-Security-Policy"] = _policy()
        return response

    return blueprint


class DevServerProxy:
    """Relays GET and HEAD to the dev server, streaming, with an allow-list of request headers."""

    def __init__(self, origin: str) -> None:
        self.origin = origin.rstrip("/")
        self._http = urllib3.PoolManager(
            maxsize=8, retries=False, timeout=urllib3.Timeout(connect=2.0, read=60.0))

    def relay(self) -> Response:
        target = self.origin + quote(request.path, safe="/@:+!$&'()*,;=~")
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
        headers = {name: request.headers[name] for name in DEV_FORWARDED_HEADERS
                   if name in request.headers}
        try:
            upstream = self._http.request(request.method, target, headers=headers,
                                          preload_content=False, decode_content=False,
                                          redirect=False)
        except NewConnectionError as exc:  # before TimeoutError: urllib3 makes it a subclass
            raise UpstreamUnavailable(f"The frontend dev server at {self.origin} is not "
                                      "answering: start it (for Vite: npm run dev).") from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"The frontend dev server at {self.origin} did not answer "
                                  "in time.") from exc
        except HTTPError as exc:
            raise UpstreamUnavailable(f"The frontend dev server at {self.origin} is not "
                                      "answering: start it (for Vite: npm run dev).") from exc
        kept = [(name, self._local(name, value)) for name, value in upstream.headers.items()
                if name.lower() not in DEV_DROPPED_RESPONSE_HEADERS]
        return Response(_stream(upstream), status=upstream.status, headers=kept,
                        direct_passthrough=True)

    def _local(self, name: str, value: str) -> str:
        """A redirect to the dev server's own origin becomes one to the same path here."""
        if name.lower() == "location" and value.startswith(self.origin + "/"):
            return value[len(self.origin):]
        return value


def _stream(upstream: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from upstream.stream(CHUNK, decode_content=False)
    finally:
        upstream.release_conn()


def create_dev_server_blueprint(origin: str) -> Blueprint:
    """Proxy the SPA from the dev server at ``origin`` (development only)."""
    proxy = DevServerProxy(origin)
    blueprint = Blueprint("frontend", __name__)
    log.warning("development mode: the SPA comes from the dev server at %s", proxy.origin)

    @blueprint.route("/", defaults={"path": ""}, methods=["GET", "HEAD"])
    @blueprint.route("/<path:path>", methods=["GET", "HEAD"])
    def dev(path: str) -> Response:
        if is_reserved(path):
            abort(404)
        response = proxy.relay()
        response.headers["Content-Security-Policy"] = _policy()
        return response

    @blueprint.route("/", defaults={"path": ""}, websocket=True)
    @blueprint.route("/<path:path>", websocket=True)
    def hot_reload_socket(path: str) -> Response:
        abort(501, description=(
            "Websockets cannot pass through the BFF: let the dev server's hot-reload client "
            f"connect to {proxy.origin} directly (Vite: server.hmr.clientPort)."))

    return blueprint


def spa_blueprint(settings: Settings) -> Blueprint | None:
    """The dev server when one is configured (it wins over a build folder), else the build."""
    if settings.frontend_dev_server:
        return create_dev_server_blueprint(settings.frontend_dev_server)
    if settings.frontend_dir:
        return create_blueprint(settings.frontend_dir)
    return None

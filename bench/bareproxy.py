"""The framework floor: a pass-through proxy on the BFF's stack, with no session and no token.

Same WSGI server and worker settings (gunicorn with config/gunicorn.conf.py), same framework
(Flask), same HTTP client (a pooled urllib3 ``PoolManager``, streaming both ways) as ``bff.proxy``;
it only leaves out what makes the BFF a BFF: cookie, Redis, decryption, token, checks, audit log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import urllib3
from flask import Flask, Response, request

CHUNK = 64 * 1024
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    "proxy-connection", "proxy-authenticate", "proxy-authorization", "host", "content-length",
    "cookie",
})


def create_app() -> Flask:
    upstream = os.environ["BENCH_UPSTREAM"]
    pool = urllib3.PoolManager(num_pools=32, maxsize=64, block=False, retries=False)
    timeout = urllib3.Timeout(connect=5.0, read=30.0)
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    @app.route("/api/orders", defaults={"rest": ""}, methods=["GET", "POST"])
    @app.route("/api/orders/<path:rest>", methods=["GET", "POST"])
    def proxy(rest: str) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        url = f"{upstream}/{rest}" if rest else upstream
        if request.query_string:
            url = f"{url}?{request.query_string.decode('latin-1')}"
        body = request.stream if request.content_length else None
        answer = pool.urlopen(request.method, url, body=body, headers=headers,
                              preload_content=False, decode_content=False, redirect=False,
                              timeout=timeout)
        kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
        return Response(_relay(answer), status=answer.status, headers=kept,
                        direct_passthrough=True)

    return app


def _relay(answer: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        while chunk := answer.read1(CHUNK):
            yield chunk
    finally:
        answer.release_conn()

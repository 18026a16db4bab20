"""The in-process harness of the small benchmarks: the BFF's Flask app driven by its test
client, with a real private redis-server and a real upstream, so one run compares variants of
one request side by side (ratios, not absolute figures)."""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from bff.processes import free_port, redis_server_command, stop, wait_for_port


def tiny_upstream() -> BaseWSGIServer:
    """A threaded WSGI upstream answering 2 bytes (http.server's Nagle delays would hide the
    difference)."""
    def app(environ: dict[str, object], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def per_request_us(app: object, cookie: str, count: int, path: str = "/api/echo/1") -> float:
    client = app.test_client()  # type: ignore[attr-defined]
    client.set_cookie("bff", cookie)
    started = time.perf_counter()
    for _ in range(count):
        assert client.get(path, headers={"X-CSRF": "1"}).status_code == 200
    return (time.perf_counter() - started) / count * 1e6


@contextmanager
def redis_and_upstream() -> Iterator[tuple[str, BaseWSGIServer]]:
    """A private redis-server's URL and a running tiny upstream, both stopped afterwards."""
    port, directory = free_port(), Path(tempfile.mkdtemp(prefix="bff-bench-"))
    proc = subprocess.Popen(redis_server_command("redis-server", port, directory),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream = tiny_upstream()
    try:
        wait_for_port(port, proc, "redis-server")
        yield f"redis://127.0.0.1:{port}/0", upstream
    finally:
        upstream.shutdown()
        stop(proc)

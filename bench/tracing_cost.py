"""What tracing costs per proxied request: the same in-process BFF (Flask test client, a real
private redis-server and a real upstream), tracing off, then on with the SDK's in-memory
exporter. Medians of rounds, side by side in one run; a ratio, not an absolute figure.

    python -m bench.tracing_cost [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from werkzeug.serving import BaseWSGIServer, make_server

from bff import tracing
from bff.app import create_app
from bff.processes import free_port, redis_server_command, stop, wait_for_port
from bff.sansio.refresh import TokenSet
from bff.settings import build_settings, generate_secret_key


def tiny_upstream() -> BaseWSGIServer:
    """A threaded WSGI upstream answering 2 bytes (http.server's Nagle delays would hide the
    difference)."""
    def app(environ: dict[str, object], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def per_request_us(app: object, cookie: str, count: int) -> float:
    client = app.test_client()  # type: ignore[attr-defined]
    client.set_cookie("bff", cookie)
    started = time.perf_counter()
    for _ in range(count):
        assert client.get("/api/echo/1", headers={"X-CSRF": "1"}).status_code == 200
    return (time.perf_counter() - started) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    port, directory = free_port(), Path(tempfile.mkdtemp(prefix="bff-bench-tracing-"))
    proc = subprocess.Popen(redis_server_command("redis-server", port, directory),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upstream = tiny_upstream()
    try:
        wait_for_port(port, proc, "redis-server")
        settings = build_settings({
            "base_url": "http://localhost:8000", "issuer": "http://127.0.0.1:9",
            "client_id": "bench", "client_secret": "bench", "secret_keys": generate_secret_key(),
            "redis_url": f"redis://127.0.0.1:{port}/0",
            "routes": [{"prefix": "/api/echo",
                        "upstream": f"http://127.0.0.1:{upstream.server_port}/echo",
                        "token": "user"}]})
        plain = create_app(settings)
        now = time.time()
        cookie, _ = plain.extensions["bff"].store.create(
            TokenSet("bench-token", None, now + 3600, now, ("openid",)), sub="bench", sid=None,
            claims={})
        provider = TracerProvider()
        spans = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        off, on = [], []
        for _ in range(args.rounds):
            tracing.disable()
            off.append(per_request_us(plain, cookie, args.requests))
            tracing.configure(provider)
            on.append(per_request_us(plain, cookie, args.requests))
            spans.clear()
        tracing.disable()
        print(f"{'tracing':>8}  {'us/request (median)':>20}")
        print(f"{'off':>8}  {statistics.median(off):>20.0f}")
        print(f"{'on':>8}  {statistics.median(on):>20.0f}")
        print(f"on/off: {statistics.median(on) / statistics.median(off):.2f}x "
              f"({statistics.median(on) - statistics.median(off):+.0f} us per request)")
    finally:
        upstream.shutdown()
        stop(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

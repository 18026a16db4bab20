"""What tracing costs per proxied request: the same in-process BFF (Flask test client, a real
private redis-server and a real upstream), tracing off, then on with the SDK's in-memory
exporter. Medians of rounds, side by side in one run; a ratio, not an absolute figure.

    python -m bench.tracing_cost [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.inprocess import per_request_us, redis_and_upstream
from bff import tracing
from bff.app import create_app
from bff.sansio.refresh import TokenSet
from bff.settings import build_settings, generate_secret_key


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with redis_and_upstream() as (redis_url, upstream):
        settings = build_settings({
            "base_url": "http://localhost:8000", "issuer": "http://127.0.0.1:9",
            "client_id": "bench", "client_secret": "bench", "secret_keys": generate_secret_key(),
            "redis_url": redis_url,
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

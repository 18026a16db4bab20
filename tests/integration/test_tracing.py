"""Traces of a proxied request and of a refresh storm, from the real instrumentation into the
OpenTelemetry SDK's in-memory exporter: the BFF in process (on the demo stack's Redis and
provider), a real upstream that reports the traceparent it received."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bff import tracing
from bff.app import create_app
from bff.settings import build_settings
from tests.integration.scale_support import Upstream, make_refresh_due, session_cookie
from tests.integration.session_support import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, KnownStack
from tests.support import XHR, log_in

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.configure(provider)
    try:
        yield spans
    finally:
        tracing.disable()


@pytest.fixture(scope="module")
def app(stack: KnownStack, upstream: Upstream, exporter: InMemorySpanExporter) -> Flask:
    return create_app(build_settings({
        "base_url": stack.bff_url, "issuer": stack.issuer, "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET, "secret_keys": stack.keys,
        "redis_url": stack.redis.url, "trusted_proxies": ["10.0.0.0/8"],
        "dpop": "auto", "dpop_keys": json.dumps(stack.dpop_key.private_jwk()),
        "scopes": "openid profile email offline_access orders:read",
        "routes": [{"prefix": "/api/echo", "upstream": f"{upstream.url}/echo", "token": "user"}],
    }))


@pytest.fixture
def alice(stack: KnownStack) -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    return browser


def call(app: Flask, cookie: str, path: str = "/api/echo/1", peer: str = "127.0.0.1",
         **headers: str) -> Any:
    client = app.test_client()
    client.set_cookie("bff", cookie)
    return client.get(path, headers={**XHR, **headers}, environ_base={"REMOTE_ADDR": peer})


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def test_a_proxied_request_is_one_trace_down_to_the_upstream(
        app: Flask, alice: requests.Session, exporter: InMemorySpanExporter) -> None:
    exporter.clear()
    answer = call(app, session_cookie(alice))
    assert answer.status_code == 200
    spans = exporter.get_finished_spans()
    [root] = [s for s in spans if s.parent is None]
    assert root.name == "GET /api/<path:_path>"
    assert root.attributes["http.route"] == "/api/echo"
    assert root.attributes["http.response.status_code"] == 200
    [read] = by_name(spans, "redis GETEX session")
    [upstream] = by_name(spans, "upstream /api/echo")
    for child in (read, upstream):
        assert child.parent is not None and child.parent.span_id == root.context.span_id
    received = json.loads(answer.get_data())["headers"]
    sent = next(v for k, v in received.items() if k.lower() == "traceparent")
    assert sent.split("-")[1] == format(root.context.trace_id, "032x")
    assert sent.split("-")[2] == format(upstream.context.span_id, "016x")


def test_no_span_carries_a_token_a_cookie_or_the_user(
        app: Flask, alice: requests.Session, exporter: InMemorySpanExporter,
        stack: KnownStack) -> None:
    exporter.clear()
    cookie = session_cookie(alice)
    call(app, cookie)
    session = stack.session(alice)
    assert session is not None
    secrets = [cookie, session.tokens.access_token, session.tokens.refresh_token or "", "alice"]
    text = " ".join(f"{s.name} {dict(s.attributes or {})}" for s in exporter.get_finished_spans())
    assert not [secret for secret in secrets if secret and secret in text]


def test_a_refresh_storm_is_one_token_call_in_one_trace_and_waiters_in_theirs(
        app: Flask, alice: requests.Session, exporter: InMemorySpanExporter,
        stack: KnownStack) -> None:
    make_refresh_due(stack.redis.client(), session_cookie(alice))
    exporter.clear()
    start = threading.Barrier(6)
    statuses: list[int] = []

    def one() -> None:
        start.wait()
        statuses.append(call(app, session_cookie(alice)).status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6
    spans = exporter.get_finished_spans()
    [refresh] = by_name(spans, "oidc token refresh")
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 6 and len({s.context.trace_id for s in roots}) == 6
    assert refresh.context.trace_id in {s.context.trace_id for s in roots}
    assert len(by_name(spans, "redis CAS session")) == 1
    for wait in by_name(spans, "refresh lock wait"):
        assert wait.context.trace_id != refresh.context.trace_id


@pytest.mark.parametrize(("peer", "continued"), [("10.1.2.3", True), ("203.0.113.9", False)])
def test_an_incoming_traceparent_is_continued_only_from_a_trusted_proxy(
        app: Flask, alice: requests.Session, exporter: InMemorySpanExporter, peer: str,
        continued: bool) -> None:
    exporter.clear()
    call(app, session_cookie(alice), peer=peer,
         traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01")
    [root] = [s for s in exporter.get_finished_spans() if s.name.startswith("GET /api")]
    assert (format(root.context.trace_id, "032x") == TRACE_ID) is continued

"""Streaming both ways with flat memory, Server-Sent Events, broken upstreams, and the audit line
per request."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import re
import secrets
import time
from typing import Any

import pytest
import requests

from tests.integration.proxy.harness import (
    JWT_SHAPE,
    MB,
    Stack,
    pattern_digest,
    pattern_stream,
    raw_request,
    reset_peak_rss,
    rss_kib,
)
from tests.support import (
    XHR,
    BffProcess,
)

# --- streaming --------------------------------------------------------------------------------

def test_a_200_mb_download_streams_with_flat_bff_memory(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    url = f"{stack.url}/api/files/download"
    warm = requests.get(url, params={"size": 4 * MB}, headers=XHR, cookies={"bff": cookie})
    assert len(warm.content) == 4 * MB
    pid = stack.bff.process.pid
    rss_before = reset_peak_rss(pid)
    size = 200 * MB
    digest = hashlib.sha256()
    received = 0
    with requests.get(url, params={"size": size}, headers=XHR, cookies={"bff": cookie},
                      stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(size)
        for chunk in response.iter_content(chunk_size=MB):
            received += len(chunk)
            digest.update(chunk)
    growth_mib = (rss_kib(pid, "VmHWM") - rss_before) / 1024
    assert received == size
    assert digest.hexdigest() == pattern_digest(size)
    assert growth_mib < 30, f"BFF peak memory grew {growth_mib:.1f} MiB"


def upload(port: int, path: str, cookie: str, size: int, *, chunked: bool) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.putrequest("PUT", path)
        connection.putheader("X-CSRF", "1")
        connection.putheader("Cookie", f"bff={cookie}")
        connection.putheader("Content-Type", "application/octet-stream")
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        else:
            connection.putheader("Content-Length", str(size))
        connection.endheaders()
        for piece in pattern_stream(size):
            connection.send(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        assert response.status == 200, response.read()[:300]
        return json.loads(response.read())
    finally:
        connection.close()


def test_a_100_mb_upload_streams_with_flat_bff_memory(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    upload(stack.bff.port, "/api/files/warm-upload", cookie, 4 * MB, chunked=False)
    pid = stack.bff.process.pid
    rss_before = reset_peak_rss(pid)
    size = 100 * MB
    echoed = upload(stack.bff.port, "/api/files/upload", cookie, size, chunked=False)
    growth_mib = (rss_kib(pid, "VmHWM") - rss_before) / 1024
    assert echoed["body_bytes"] == size
    assert echoed["sha256"] == pattern_digest(size)
    sent = stack.upstream.seen_under("/files/upload")[-1]
    assert sent.header("Content-Length") == [str(size)]
    assert growth_mib < 30, f"BFF peak memory grew {growth_mib:.1f} MiB"


def test_a_chunked_upload_streams_through(stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    size = 20 * MB + 123
    echoed = upload(front.port, "/api/files/chunked", cookie, size, chunked=True)
    assert echoed["body_bytes"] == size
    assert echoed["sha256"] == pattern_digest(size)


def test_server_sent_events_arrive_before_the_upstream_finishes(
        stack: Stack, front: BffProcess) -> None:
    cookie, _, _ = stack.plant_session()
    name = secrets.token_hex(4)
    gate = stack.upstream.gate(name)
    connection = http.client.HTTPConnection("127.0.0.1", front.port, timeout=15)
    try:
        connection.request("GET", f"/api/files/sse?gate={name}",
                           headers={"X-CSRF": "1", "Cookie": f"bff={cookie}",
                                    "Accept": "text/event-stream"})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        first = b""
        while b"\n\n" not in first:
            first += response.read1(1024)
        assert first == b"event: first\ndata: hello\n\n"
        assert name not in stack.upstream.finished
        gate.set()
        assert response.read() == b"event: last\ndata: bye\n\n"
    finally:
        gate.set()
        connection.close()


def audit_lines(process: BffProcess, marker: str) -> list[str]:
    """The audit lines holding ``marker``, waiting briefly: they are written at body end."""
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in process.log().splitlines()
                 if "bff.audit" in line and marker in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_an_upstream_that_breaks_mid_body_cuts_the_browser_response(stack: Stack) -> None:
    cookie, _, session = stack.plant_session(sub="truncated-reader")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{stack.url}/api/files/truncated", headers=XHR, cookies={"bff": cookie})
    [line] = audit_lines(stack.bff, "sub=truncated-reader")
    assert "status=200 outcome=upstream_broke" in line


def test_a_download_the_browser_abandons_stops_and_is_audited(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session(sub="impatient-reader")
    size = 1024 * MB
    with requests.get(f"{stack.url}/api/files/download", params={"size": size}, headers=XHR,
                      cookies={"bff": cookie}, stream=True) as response:
        assert len(next(response.iter_content(chunk_size=MB))) > 0
    [line] = audit_lines(stack.bff, "sub=impatient-reader")
    assert "status=200 outcome=client_gone" in line
    sent = int(re.search(r"bytes_out=(\d+)", line).group(1))  # type: ignore[union-attr]
    assert sent < size / 4
    assert requests.get(f"{stack.url}/api/files/after-abandon", headers=XHR,
                        cookies={"bff": cookie}).status_code == 200


def test_a_head_request_returns_headers_only(stack: Stack) -> None:
    cookie, _, _ = stack.plant_session()
    response = requests.head(f"{stack.url}/api/files/download", params={"size": 12345},
                             headers=XHR, cookies={"bff": cookie})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "12345"
    assert response.content == b""


def test_upstream_connections_are_pooled_and_kept_alive(stack: Stack) -> None:
    ports = {requests.get(f"{stack.url}/api/pooled/x", headers=XHR).json()["client_port"]
             for _ in range(5)}
    assert len(ports) == 1



# --- audit ------------------------------------------------------------------------------------

def test_each_proxied_request_is_audited_without_tokens_or_cookies(stack: Stack) -> None:
    cookie, token, session = stack.plant_session(sub="audited-user")
    requests.get(f"{stack.url}/api/orders/audited", cookies={"bff": cookie},
                 headers={**XHR, "Authorization": "Bearer browser-secret-value"})
    requests.get(f"{stack.url}/api/ordersevil", cookies={"bff": cookie}, headers=XHR)
    deadline = time.monotonic() + 5
    while "sub=audited-user" not in stack.bff.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = stack.bff.log()
    lines = [line for line in log.splitlines() if "bff.audit" in line]
    ok = [line for line in lines if "sub=audited-user" in line]
    assert len(ok) == 1
    assert re.search(r"proxy method=GET route=/api/orders status=200 outcome=ok "
                     r"duration_ms=[\d.]+ upstream_ms=[\d.]+ bytes_out=\d+ "
                     rf"session={session.handle[:16]} sub=audited-user$", ok[0]), ok[0]
    assert any("route=- status=404 outcome=not_found" in line for line in lines)
    assert cookie not in log
    assert token not in log
    assert "browser-secret-value" not in log
    assert session.handle not in log
    assert not JWT_SHAPE.search(log)


@pytest.mark.parametrize("separator", ["%0a", "%0d%0a", "%0d", "%e2%80%a8", "%c2%85"])
def test_a_forged_log_line_in_the_path_stays_inside_the_line_that_carries_it(
        stack: Stack, front: BffProcess, separator: str) -> None:
    """The review's attack on the text log: a path that decodes to a newline followed by a
    genuine-looking record, sent over a raw socket to the dev server and to gunicorn."""
    marker = secrets.token_hex(6)
    forged = f"2026-11-30%2013:30:00,000%20INFO%20bff.endpoints%20[{marker}]%20login%20sub=admin"
    raw_request(front.port, f"/x{separator}{forged}")
    deadline = time.monotonic() + 10
    while marker not in front.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in front.log().splitlines() if marker in line]
    assert lines, "the request was not logged at all"
    assert not [line for line in lines if line.startswith("2026-11-30 13:30:00,000")], lines


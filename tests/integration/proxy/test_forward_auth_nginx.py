"""Forward-auth through a real nginx (Debian's, `auth_request`): nginx moves the bytes, the
BFF only says who may pass and with which `Authorization`. The configuration is the one
docs/routes.md shows."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bff.processes import free_port, stop, wait_for_port
from tests.integration.proxy.harness import Stack
from tests.support import XHR

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /api/ {{
            auth_request /_bff_authz;
            auth_request_set $bff_authorization $upstream_http_authorization;
            proxy_set_header Authorization $bff_authorization;
            proxy_set_header Cookie "";
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
        location = /_bff_authz {{
            internal;
            proxy_pass http://127.0.0.1:{bff_port}/bff/authz;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri $request_uri;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def edge(stack: Stack) -> Iterator[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is missing: apt-get install nginx-light (see .ci/run)")
    directory = Path(tempfile.mkdtemp(prefix="bff-test-nginx-"))
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(NGINX_CONF.format(dir=directory, port=port,
                                        upstream_port=stack.upstream.port,
                                        bff_port=stack.trusting_bff.port))
    proc = subprocess.Popen([binary, "-c", str(config), "-p", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "nginx", describe=lambda: (directory / "error.log").read_text(
            errors="replace") if (directory / "error.log").exists() else "")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_nginx_passes_the_users_bearer_and_never_the_cookie(stack: Stack, edge: str) -> None:
    cookie, token, _ = stack.plant_session()
    answer = requests.get(f"{edge}/api/orders/edge-7", headers=XHR, cookies={"bff": cookie},
                          timeout=10)
    assert answer.status_code == 200, answer.text
    seen = stack.upstream.seen_under("/api/orders/edge-7")[-1]
    assert seen.header("Authorization") == [f"Bearer {token}"]
    assert "cookie" not in seen.names()


@pytest.mark.parametrize(("case", "status"), [("no session", 401), ("no X-CSRF", 403),
                                              ("cross-site", 403), ("escape", 403)])
def test_nginx_refuses_what_the_bff_refuses_and_the_upstream_never_sees_it(
        stack: Stack, edge: str, case: str, status: int) -> None:
    cookie, _, _ = stack.plant_session(scopes=("openid", "orders:read"))
    path, headers, cookies = f"/api/orders/edge-{case.replace(' ', '-')}", dict(XHR), {
        "bff": cookie}
    if case == "no session":
        cookies = {}
    elif case == "no X-CSRF":
        headers = {}
    elif case == "cross-site":
        headers["Sec-Fetch-Site"] = "cross-site"
    else:
        path = "/api/orders/%61dmin/edge"
    before = len(stack.upstream.seen)
    answer = requests.get(f"{edge}{path}", headers=headers, cookies=cookies, timeout=10)
    assert answer.status_code == status
    assert len(stack.upstream.seen) == before

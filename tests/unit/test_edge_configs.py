"""The edge configurations shipped in deploy/edge/ say what docs/forward-auth.md says: they ask
/bff/authz, copy Authorization (and DPoP) upstream, keep the cookie from upstreams and pass what
the BFF needs to judge the original request. nginx's is run by the suite; these are checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bff.sansio.proxy_rules import NEVER_DOWNSTREAM, REQUEST_HEADER_ALLOW_LIST

EDGE = Path(__file__).resolve().parents[2] / "deploy" / "edge"
# What the built-in proxy never passes to the browser, which the edge must drop as well.
HIDDEN = NEVER_DOWNSTREAM | {"proxy-authenticate"} | {
    f"access-control-{name}" for name in ("allow-origin", "allow-credentials", "allow-headers",
                                          "allow-methods", "expose-headers", "max-age")}


def walk(node: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a YAML document."""
    found = []
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key:
                found.append(value)
            found += walk(value, key)
    elif isinstance(node, list):
        for item in node:
            found += walk(item, key)
    return found


def test_traefik_forward_auth_asks_the_bff_and_copies_its_headers() -> None:
    config = yaml.safe_load((EDGE / "traefik-dynamic.yml").read_text())
    auth = config["http"]["middlewares"]["bff-authz"]["forwardAuth"]
    assert auth["address"].endswith("/bff/authz") and auth["trustForwardHeader"] is False
    assert set(auth["authResponseHeaders"]) == {"Authorization", "DPoP"}
    assert config["http"]["middlewares"]["no-cookie"]["headers"]["customRequestHeaders"] == {
        "Cookie": ""}
    assert config["http"]["routers"]["api"]["middlewares"] == ["bff-authz", "no-cookie",
                                                               "api-answers"]
    removed = config["http"]["middlewares"]["api-answers"]["headers"]["customResponseHeaders"]
    assert {name.lower() for name in removed} == HIDDEN and set(removed.values()) == {""}


def test_envoy_ext_authz_asks_the_bff_and_copies_its_headers() -> None:
    config = yaml.safe_load((EDGE / "envoy.yaml").read_text())
    [service] = walk(config, "http_service")
    assert service["path_prefix"] == "/bff/authz"
    added = {h["key"]: h["value"] for h in service["authorization_request"]["headers_to_add"]}
    assert added == {"X-Forwarded-Method": "%REQ(:METHOD)%", "X-Forwarded-Uri": "%REQ(:PATH)%",
                     "X-Forwarded-Upgrade": "%REQ(upgrade)%"}
    allowed = {p["exact"] for p in service["authorization_request"]["allowed_headers"]["patterns"]}
    assert {"cookie", "origin", "x-csrf", "sec-fetch-site"} <= allowed
    upstream = {p["exact"] for p in
                service["authorization_response"]["allowed_upstream_headers"]["patterns"]}
    assert upstream == {"authorization", "dpop"}
    assert ["cookie"] in walk(config, "request_headers_to_remove")
    [removed] = walk(config, "response_headers_to_remove")
    assert set(removed) == HIDDEN
    assert {"upgrade_type": "websocket"} in walk(config, "upgrade_configs")[0]


def test_nginx_config_copies_authorization_and_dpop_and_passes_the_upgrade() -> None:
    text = (EDGE / "nginx.conf").read_text()
    for line in ("auth_request /_bff_authz;", "proxy_pass_request_headers off;",
                 "auth_request_set $bff_authorization $upstream_http_authorization;",
                 "proxy_set_header X-Forwarded-Upgrade $http_upgrade;",
                 "proxy_set_header X-Forwarded-Uri $request_uri;"):
        assert line in text, line
    hidden = {line.split()[1].rstrip(";").lower() for line in text.splitlines()
              if line.strip().startswith("proxy_hide_header ")}
    assert hidden == HIDDEN


def test_nginx_sends_only_the_allow_listed_browser_headers_to_apis() -> None:
    """With ``proxy_pass_request_headers off`` the API gets exactly the headers the /api/
    location sets: the built-in proxy's allow-list, the forwarding headers, the credential and
    a WebSocket handshake's own; never the cookie."""
    text = (EDGE / "nginx.conf").read_text()
    api = text[text.index("location /api/ {"):text.index("location = /_bff_authz")]
    sent = {line.split()[1].lower() for line in api.splitlines()
            if line.strip().startswith("proxy_set_header ")}
    assert sent == REQUEST_HEADER_ALLOW_LIST | {
        "host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id",
        "authorization", "dpop", "upgrade", "connection", "sec-websocket-key",
        "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions"}

"""The whole chain with DPoP, PAR and private_key_jwt on (issue 16): the BFF, a client with no
secret, pushes its logins and holds only DPoP-bound tokens, against the reference provider
requiring nonces and pushed requests, and a demo API accepting only DPoP. A token copied from
what an upstream received is useless without the BFF's key."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from bff.processes import free_port
from bff.settings import generate_secret_key
from bff.signing_keys import dpop_proof, generate_signing_key
from tests.integration.authserver_support import (
    RESOURCE_SECRET,
    AuthServer,
    config_text,
    start_authserver,
)
from tests.integration.scale_support import Upstream, metric, session_cookie
from tests.integration.session_support import expire_access_token, store_for
from tests.support import XHR, BffProcess, RedisServer, log_in, start_bff

CLIENT_KEY, DPOP_KEY, THIEF_KEY = (generate_signing_key() for _ in range(3))


def toml_table(values: dict[str, str]) -> str:
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()) + " }"


@dataclass
class Chain:
    provider: AuthServer
    bff: BffProcess
    api: BffProcess
    keys: str
    orders: str


@pytest.fixture(scope="module")
def chain(redis_server: RedisServer, upstream: Upstream) -> Iterator[Chain]:
    bff_port, api_port = free_port(), free_port()
    bff_url, orders = f"http://localhost:{bff_port}", f"http://localhost:{api_port}"
    client = f"""
[[clients]]
client_id = "bff-fapi"
redirect_uris = ["{bff_url}/bff/callback"]
post_logout_redirect_uris = ["{bff_url}/"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
scopes = ["openid", "profile", "email", "offline_access", "orders:read", "orders:write"]
audience = "demo-api"
resources = ["{orders}"]
token_endpoint_auth_methods = ["private_key_jwt"]
jwks = {{ keys = [{toml_table(CLIENT_KEY.public_jwk())}] }}
require_pushed_authorization_requests = true
"""
    provider = start_authserver(redis_server.url,
                                config=config_text(extra="dpop_nonce = true") + client)
    routes = Path(tempfile.mkdtemp(prefix="bff-test-fapi-")) / "routes.toml"
    routes.write_text(f"""
[[routes]]
prefix = "/api/orders"
upstream = "http://127.0.0.1:{api_port}/orders"
methods = ["GET", "POST"]
resource = "{orders}"

[[routes]]
prefix = "/api/echo"
upstream = "{upstream.url}/echo"
resource = "{orders}"

[[routes]]
prefix = "/api/service"
upstream = "{upstream.url}/service"
token = "client"
""")
    keys = generate_secret_key()
    started: list[BffProcess] = []
    try:
        started.append(start_bff(["demo-api", "--issuer", provider.issuer, "--port",
                                  str(api_port), "--audience", orders, "--dpop", "required"],
                                 api_port))
        started.append(start_bff(["serve", "--config", str(routes), "--port", str(bff_port)],
                                 bff_port, {
            "BFF_BASE_URL": bff_url, "BFF_ISSUER": provider.issuer, "BFF_CLIENT_ID": "bff-fapi",
            "BFF_CLIENT_KEY": json.dumps(CLIENT_KEY.private_jwk()), "BFF_PAR": "required",
            "BFF_DPOP": "required", "BFF_DPOP_KEYS": json.dumps(DPOP_KEY.private_jwk()),
            "BFF_SECRET_KEYS": keys, "BFF_REDIS_URL": redis_server.url,
            "BFF_SCOPES": "openid profile email offline_access orders:read orders:write",
            "PYTHONUNBUFFERED": "1"}))
        yield Chain(provider=provider, api=started[0], bff=started[1], keys=keys,
                    orders=orders)
    finally:
        for process in started:
            process.stop()
        provider.stop()


def signed_in(chain: Chain) -> requests.Session:
    browser = requests.Session()
    log_in(browser, chain.bff.url, "alice", "wonderland")
    return browser


def echoed(browser: requests.Session, chain: Chain, path: str) -> dict[str, str]:
    answer = browser.get(f"{chain.bff.url}{path}", headers=XHR)
    assert answer.status_code == 200, answer.text
    return {k.lower(): v for k, v in answer.json()["headers"].items()}


def test_the_login_is_pushed_and_calls_carry_dpop_bound_tokens(chain: Chain) -> None:
    start = requests.get(f"{chain.bff.url}/bff/login", allow_redirects=False)
    assert set(parse_qs(urlsplit(start.headers["Location"]).query)) == {"client_id",
                                                                        "request_uri"}
    browser = signed_in(chain)
    placed = browser.post(f"{chain.bff.url}/api/orders", headers=XHR,
                          json={"item": "widget", "quantity": 1})
    assert placed.status_code == 201, placed.text
    assert browser.get(f"{chain.bff.url}/api/orders", headers=XHR).json()["orders"]
    seen = echoed(browser, chain, "/api/echo/1")
    scheme, _, token = seen["authorization"].partition(" ")
    assert scheme == "DPoP" and "dpop" in seen
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["cnf"]["jkt"] == DPOP_KEY.thumbprint and claims["aud"] == chain.orders


def test_a_token_copied_from_an_upstream_is_useless_without_the_bffs_key(chain: Chain) -> None:
    seen = echoed(signed_in(chain), chain, "/api/echo/2")
    token, captured_proof = seen["authorization"].partition(" ")[2], seen["dpop"]
    orders_url = f"{chain.api.url}/orders"
    attempts = {
        "as_bearer": {"Authorization": f"Bearer {token}"},
        "with_the_captured_proof": {"Authorization": f"DPoP {token}", "DPoP": captured_proof},
        "with_the_thiefs_own_proof": {"Authorization": f"DPoP {token}", "DPoP": dpop_proof(
            THIEF_KEY, "GET", orders_url, access_token=token)},
        "without_a_proof": {"Authorization": f"DPoP {token}"},
    }
    for attack, headers in attempts.items():
        answer = requests.get(orders_url, headers=headers, timeout=10)
        assert answer.status_code == 401, attack
        assert answer.headers["WWW-Authenticate"].startswith("DPoP "), attack


def test_a_refresh_storm_makes_one_grant_with_the_bound_refresh_token(
        chain: Chain, redis_server: RedisServer) -> None:
    browser = signed_in(chain)
    assert browser.get(f"{chain.bff.url}/api/orders", headers=XHR).status_code == 200
    store = store_for(redis_server.client(), chain.keys)
    session = store.load(session_cookie(browser), slide=False)
    assert session is not None and session.tokens.dpop_jkt == DPOP_KEY.thumbprint
    expire_access_token(store, session)
    before = metric(chain.bff.url, "bff_token_refreshes_total", outcome="refreshed")
    cookie = {"bff": session_cookie(browser)}
    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(lambda _: requests.get(
            f"{chain.bff.url}/api/orders", cookies=cookie, headers=XHR, timeout=30).status_code,
            range(30)))
    assert statuses == [200] * 30
    assert metric(chain.bff.url, "bff_token_refreshes_total", outcome="refreshed") - before == 1


def test_client_credentials_routes_get_dpop_bound_service_tokens(chain: Chain) -> None:
    seen = echoed(signed_in(chain), chain, "/api/service/1")
    scheme, _, token = seen["authorization"].partition(" ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert scheme == "DPoP" and claims["sub"] == "bff-fapi"
    assert claims["cnf"]["jkt"] == DPOP_KEY.thumbprint


def test_logout_revokes_the_refresh_token_authenticating_with_the_key(
        chain: Chain, redis_server: RedisServer) -> None:
    browser = signed_in(chain)
    session = store_for(redis_server.client(), chain.keys).load(session_cookie(browser),
                                                                 slide=False)
    assert session is not None and session.tokens.refresh_token
    assert browser.post(f"{chain.bff.url}/bff/logout", headers=XHR).status_code == 200
    time.sleep(0.2)
    described = requests.post(f"{chain.provider.url}/introspect",
                              auth=("demo-api", RESOURCE_SECRET),
                              data={"token": session.tokens.refresh_token}).json()
    assert described == {"active": False}

"""The demo's microservices end to end (`bff demo` as a user runs it): each API receives a token
for itself alone (RFC 8707), the orders API checks stock at the inventory API on the user's
behalf (RFC 8693), and the inventory route requires the stock-viewer role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bff.audit import AuditOptions, run_audit
from bff.signing_keys import dpop_proof
from tests.integration.session_support import KnownStack, start_known_stack
from tests.support import XHR, RedisServer, log_in


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer) -> Iterator[KnownStack]:
    running = start_known_stack(redis_server)
    try:
        yield running
    finally:
        running.stop()


def signed_in(stack: KnownStack, user: str, password: str) -> requests.Session:
    browser = requests.Session()
    log_in(browser, stack.bff_url, user, password)
    return browser


def orders_url(stack: KnownStack) -> str:
    return f"http://localhost:{stack.demo.port + 2}"


def inventory_url(stack: KnownStack) -> str:
    return f"http://localhost:{stack.demo.port + 3}"


def test_each_api_receives_a_token_for_its_own_base_url(stack: KnownStack) -> None:
    alice = signed_in(stack, "alice", "wonderland")
    orders = alice.get(f"{stack.bff_url}/api/orders/whoami", headers=XHR).json()
    inventory = alice.get(f"{stack.bff_url}/api/inventory/whoami", headers=XHR).json()
    assert orders == {"aud": orders_url(stack), "sub": "alice", "act": None,
                      "token_type": "DPoP"}, "the demo runs with DPoP-bound tokens"
    assert inventory["aud"] == inventory_url(stack) and inventory["sub"] == "alice"


def test_each_api_refuses_the_token_meant_for_the_other(stack: KnownStack) -> None:
    alice = signed_in(stack, "alice", "wonderland")
    for path in ("inventory", "orders"):
        assert alice.get(f"{stack.bff_url}/api/{path}", headers=XHR).status_code == 200
    session = stack.session(alice)
    assert session is not None
    held = session.tokens.resources
    for token_for, other in ((orders_url(stack), f"{inventory_url(stack)}/inventory"),
                             (inventory_url(stack), f"{orders_url(stack)}/orders")):
        token = held[token_for].access_token
        # With a valid proof of the BFF's own key: the audience alone refuses it.
        answer = requests.get(other, timeout=10, headers={
            "Authorization": f"DPoP {token}",
            "DPoP": dpop_proof(stack.dpop_key, "GET", other, access_token=token)})
        assert answer.status_code == 401, (token_for, other)
        assert "another audience" in answer.json()["error_description"]


def test_an_order_is_checked_against_the_stock_on_the_users_behalf(stack: KnownStack) -> None:
    alice = signed_in(stack, "alice", "wonderland")
    placed = alice.post(f"{stack.bff_url}/api/orders", headers=XHR,
                        json={"item": "widget", "quantity": 2})
    assert placed.status_code == 201, placed.text
    refused = alice.post(f"{stack.bff_url}/api/orders", headers=XHR,
                         json={"item": "gizmo", "quantity": 1})
    assert refused.status_code == 409 and refused.json()["error"] == "out_of_stock"
    orders = alice.get(f"{stack.bff_url}/api/orders", headers=XHR).json()["orders"]
    assert [o["item"] for o in orders] == ["widget"]


def test_the_stock_route_needs_the_stock_viewer_role(stack: KnownStack) -> None:
    alice = signed_in(stack, "alice", "wonderland")
    stock = alice.get(f"{stack.bff_url}/api/inventory", headers=XHR)
    assert stock.status_code == 200 and {"item": "widget", "available": 42} in \
        stock.json()["items"]
    bob = signed_in(stack, "bob", "builder")
    refused = bob.get(f"{stack.bff_url}/api/inventory", headers=XHR)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_claims"
    assert bob.post(f"{stack.bff_url}/api/orders", headers=XHR,
                    json={"item": "widget", "quantity": 1}).status_code == 403, \
        "bob holds orders:read only"


def test_bff_audit_sees_distinct_audiences(stack: KnownStack) -> None:
    checks = {c.name: c for c in run_audit(AuditOptions(
        url=stack.bff_url, username="alice", password="wonderland", api_path="/api/orders",
        audience_probes=("/api/orders/whoami", "/api/inventory/whoami")))}
    assert checks["api.audiences"].status == "PASS", checks["api.audiences"].detail
    assert orders_url(stack) in checks["api.audiences"].detail

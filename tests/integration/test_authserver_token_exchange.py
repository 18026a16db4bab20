"""RFC 8693 token exchange at the reference provider: a service swaps a user's token meant for
it for one meant for another service, named as the actor, never wider than either party's
scopes, and only within its policy."""

from __future__ import annotations

import time

import requests

from tests.integration.authserver_support import (
    BFF_SECRET,
    EXCHANGER_SECRET,
    SERVICE_SECRET,
    AuthServer,
    signed_by_server,
    tokens_for,
)

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
STOCK = "https://stock.test"


def exchange(server: AuthServer, subject_token: str, *, client: tuple[str, str] = (
        "orders-api", EXCHANGER_SECRET), **extra: str | list[str]) -> requests.Response:
    data: dict[str, str | list[str]] = {"grant_type": GRANT, "subject_token": subject_token,
                                        "subject_token_type": ACCESS, "audience": STOCK}
    data.update(extra)
    return requests.post(f"{server.url}/token", auth=client, data=data)


def test_the_exchanged_token_names_the_user_the_new_audience_and_the_actor(
        server: AuthServer) -> None:
    user_token = tokens_for(server)["access_token"]
    answer = exchange(server, user_token)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    claims = server.verify(body["access_token"], STOCK)
    assert claims["sub"] == "alice" and claims["aud"] == STOCK
    assert claims["act"] == {"sub": "orders-api"}
    assert claims["scope"].split() == ["orders:read"], "no wider than the exchanger's scopes"


def test_scope_can_be_narrowed_but_never_widened(server: AuthServer) -> None:
    user_token = tokens_for(server)["access_token"]
    widened = exchange(server, user_token, scope="orders:read orders:write")
    assert server.verify(widened.json()["access_token"], STOCK)["scope"] == "orders:read"
    bob = tokens_for(server, "bob", "builder")["access_token"]
    assert server.verify(exchange(server, bob).json()["access_token"], STOCK)["scope"] == \
        "orders:read"


def test_an_audience_outside_the_policy_is_invalid_target(server: AuthServer) -> None:
    user_token = tokens_for(server)["access_token"]
    for target in ({"audience": "https://orders.test"}, {"audience": "demo-api"},
                   {"audience": [STOCK, "https://orders.test"]}):
        answer = exchange(server, user_token, **target)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_target", target


def test_a_client_without_the_grant_cannot_exchange(server: AuthServer) -> None:
    user_token = tokens_for(server)["access_token"]
    for client in (("bff-demo", BFF_SECRET), ("demo-service", SERVICE_SECRET)):
        answer = exchange(server, user_token, client=client)
        assert answer.json()["error"] == "unauthorized_client", client


def test_a_token_meant_for_another_service_cannot_be_exchanged(server: AuthServer) -> None:
    """The stock API's own token, or one for the orders resource, is not the exchanger's."""
    stock_token = exchange(server, tokens_for(server)["access_token"]).json()["access_token"]
    answer = exchange(server, stock_token)
    assert answer.json()["error"] == "invalid_grant"


def test_forged_expired_revoked_and_refresh_tokens_are_refused(server: AuthServer) -> None:
    tokens = tokens_for(server)
    now = int(time.time())
    expired = signed_by_server(server, {
        "iss": server.issuer, "sub": "alice", "aud": "demo-api", "exp": now - 10,
        "iat": now - 100, "jti": "expired-1", "client_id": "bff-demo", "scope": "orders:read"})
    forged = tokens["access_token"][:-4] + "AAAA"
    requests.post(f"{server.url}/revoke", auth=("bff-demo", BFF_SECRET),
                  data={"token": tokens["access_token"], "token_type_hint": "access_token"})
    for subject in (expired, forged, tokens["access_token"], tokens["refresh_token"],
                    "not-a-token"):
        assert exchange(server, subject).json()["error"] == "invalid_grant", subject[:20]


def test_malformed_exchange_requests_are_invalid_request(server: AuthServer) -> None:
    user_token = tokens_for(server)["access_token"]
    assert exchange(server, "").json()["error"] == "invalid_request"
    for extra in ({"subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
                  {"actor_token": user_token, "actor_token_type": ACCESS},
                  {"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}):
        assert exchange(server, user_token, **extra).json()["error"] == "invalid_request", extra


def test_discovery_advertises_the_grant(server: AuthServer) -> None:
    document = requests.get(f"{server.url}/.well-known/openid-configuration").json()
    assert GRANT in document["grant_types_supported"]

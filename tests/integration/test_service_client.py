"""ServiceClient against the real reference provider: service tokens and on-behalf-of tokens,
fetched once under concurrency, cached, and refused with the provider's error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import requests

from bff.resource.service_client import ServiceClient, ServiceTokenError
from bff.signing_keys import generate_signing_key
from tests.integration.authserver_support import (
    EXCHANGER_SECRET,
    SERVICE_SECRET,
    AuthServer,
    tokens_for,
)

STOCK = "https://stock.test"


class CountingSession(requests.Session):
    """A real HTTP session that counts the token requests it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.token_requests = 0

    def post(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.token_requests += 1
        return super().post(url, *args, **kwargs)


def test_a_burst_of_threads_makes_one_client_credentials_request(server: AuthServer) -> None:
    session = CountingSession()
    client = ServiceClient(server.issuer, "demo-service", SERVICE_SECRET, session=session)
    with ThreadPoolExecutor(20) as pool:
        tokens = list(pool.map(lambda _: client.client_token(), range(20)))
    assert len(set(tokens)) == 1 and session.token_requests == 1
    assert server.verify(tokens[0], "demo-api")["sub"] == "demo-service"
    assert client.client_token(resource="https://orders.test") != tokens[0]
    assert session.token_requests == 2, "another resource is another token"


def test_on_behalf_of_exchanges_once_per_user_token_and_audience(server: AuthServer) -> None:
    session = CountingSession()
    client = ServiceClient(server.issuer, "orders-api", EXCHANGER_SECRET, session=session)
    alice = tokens_for(server)["access_token"]
    bob = tokens_for(server, "bob", "builder")["access_token"]
    with ThreadPoolExecutor(20) as pool:
        exchanged = list(pool.map(lambda i: client.on_behalf_of(alice if i % 2 else bob, STOCK),
                                  range(20)))
    assert len(set(exchanged)) == 2 and session.token_requests == 2
    claims = server.verify(client.on_behalf_of(alice, STOCK), STOCK)
    assert claims["sub"] == "alice" and claims["act"] == {"sub": "orders-api"}
    assert session.token_requests == 2, "cached"


def test_the_providers_refusal_reaches_the_caller_with_its_error(server: AuthServer) -> None:
    client = ServiceClient(server.issuer, "orders-api", EXCHANGER_SECRET)
    alice = tokens_for(server)["access_token"]
    with pytest.raises(ServiceTokenError) as refused:
        client.on_behalf_of(alice, "https://elsewhere.test")
    assert refused.value.error == "invalid_target"
    wrong = ServiceClient(server.issuer, "orders-api", "not-the-secret")
    with pytest.raises(ServiceTokenError) as unauthenticated:
        wrong.on_behalf_of(alice, STOCK)
    assert unauthenticated.value.error == "invalid_client"
    down = ServiceClient("http://127.0.0.1:9", "orders-api", EXCHANGER_SECRET)
    with pytest.raises(ServiceTokenError) as unavailable:
        down.client_token()
    assert unavailable.value.error == "unavailable"


def test_with_a_dpop_key_the_tokens_are_bound_and_calls_carry_proofs(server: AuthServer) -> None:
    key = generate_signing_key()
    client = ServiceClient(server.issuer, "orders-api", EXCHANGER_SECRET, dpop_key=key)
    token = client.on_behalf_of(tokens_for(server)["access_token"], STOCK)
    assert server.verify(token, STOCK)["cnf"] == {"jkt": key.thumbprint}
    headers = client.authorization_headers(token, "GET", "https://stock.test/items/1")
    assert headers["Authorization"] == f"DPoP {token}"
    proof = jwt.decode(headers["DPoP"], options={"verify_signature": False})
    assert proof["htu"] == "https://stock.test/items/1" and proof["htm"] == "GET"
    plain = ServiceClient(server.issuer, "orders-api", EXCHANGER_SECRET)
    assert plain.authorization_headers("t", "GET", "https://x") == {"Authorization": "Bearer t"}

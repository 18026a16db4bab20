"""Resource indicators (RFC 8707) at the reference provider: a token for exactly the resource a
request names, only among those the client is registered for and the grant covers; anything
else is invalid_target, and a refused refresh spends nothing."""

from __future__ import annotations

import requests

from tests.integration.authserver_support import (
    BFF_SECRET,
    SERVICE_SECRET,
    AuthServer,
    Pkce,
    authorize_params,
    exchange_code,
    login,
    redirect_params,
)

ORDERS, STOCK = "https://orders.test", "https://stock.test"


def grant(server: AuthServer, resources: list[str]) -> dict[str, str]:
    """A login whose authorization request names ``resources``: the token response."""
    pkce = Pkce()
    params = {**authorize_params(pkce), "resource": resources}
    answer = exchange_code(server.url, redirect_params(login(
        requests.Session(), server.url, params))["code"], pkce)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh_for(server: AuthServer, refresh_token: str, *resources: str) -> requests.Response:
    return requests.post(f"{server.url}/token", auth=("bff-demo", BFF_SECRET), data={
        "grant_type": "refresh_token", "refresh_token": refresh_token,
        "resource": list(resources)})


def test_a_refresh_naming_a_granted_resource_gets_a_token_for_it_alone(
        server: AuthServer) -> None:
    tokens = grant(server, [ORDERS, STOCK])
    assert server.verify(tokens["access_token"], "demo-api")["aud"] == "demo-api"
    for resource in (ORDERS, STOCK):
        answer = refresh_for(server, tokens["refresh_token"], resource)
        assert answer.status_code == 200, answer.text
        tokens = answer.json()
        assert server.verify(tokens["access_token"], resource)["aud"] == resource


def test_authorizing_a_resource_the_client_is_not_registered_for_is_invalid_target(
        server: AuthServer) -> None:
    browser = requests.Session()
    login(browser, server.url, authorize_params(Pkce()))
    params = {**authorize_params(Pkce(), state="s1"), "resource": [ORDERS, "https://evil.test"]}
    answer = browser.get(f"{server.url}/authorize", params=params, allow_redirects=False)
    error = redirect_params(answer)
    assert error["error"] == "invalid_target" and error["state"] == "s1"


def test_a_resource_the_grant_does_not_cover_is_refused_and_the_refresh_token_survives(
        server: AuthServer) -> None:
    tokens = grant(server, [ORDERS])
    refused = refresh_for(server, tokens["refresh_token"], STOCK)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"
    again = refresh_for(server, tokens["refresh_token"], ORDERS)
    assert again.status_code == 200, "a refused request spent nothing"


def test_two_resources_in_one_token_request_are_refused(server: AuthServer) -> None:
    tokens = grant(server, [ORDERS, STOCK])
    refused = refresh_for(server, tokens["refresh_token"], ORDERS, STOCK)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_target"


def test_a_grant_that_named_no_resource_may_ask_for_any_registered_one(
        server: AuthServer) -> None:
    tokens = grant(server, [])
    answer = refresh_for(server, tokens["refresh_token"], STOCK)
    assert server.verify(answer.json()["access_token"], STOCK)["aud"] == STOCK
    unregistered = refresh_for(server, answer.json()["refresh_token"], "https://evil.test")
    assert unregistered.json()["error"] == "invalid_target"


def test_client_credentials_for_a_registered_resource_only(server: AuthServer) -> None:
    def ask(resource: str) -> requests.Response:
        return requests.post(f"{server.url}/token", auth=("demo-service", SERVICE_SECRET),
                             data={"grant_type": "client_credentials", "resource": resource})

    answer = ask(ORDERS)
    assert server.verify(answer.json()["access_token"], ORDERS)["aud"] == ORDERS
    assert ask(STOCK).json()["error"] == "invalid_target"


def test_discovery_says_resource_indicators_are_supported(server: AuthServer) -> None:
    document = requests.get(f"{server.url}/.well-known/openid-configuration").json()
    assert document["resource_indicators_supported"] is True

"""Pushed authorization requests (RFC 9126) at the reference provider: what the browser carries
is a reference, usable once, by the client that pushed it, for a bounded time; and a client that
must push cannot be sent through /authorize with parameters in the URL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from bff.authserver.store import AuthStore
from tests.integration.authserver_support import (
    BFF_SECRET,
    OTHER_SECRET,
    REDIRECT_URI,
    AuthServer,
    Pkce,
    authorize_params,
    config_text,
    exchange_code,
    login_form,
    redirect_params,
    start_authserver,
    submit_login,
)
from tests.support import RedisServer


def push(server: AuthServer, pkce: Pkce, client: tuple[str, str] | None = (
        "bff-demo", BFF_SECRET), **overrides: str) -> requests.Response:
    return requests.post(f"{server.url}/par", auth=client,
                         data={**authorize_params(pkce), **overrides})


def authorize_pushed(server: AuthServer, browser: requests.Session, request_uri: str,
                     client_id: str = "bff-demo", **extra: str) -> requests.Response:
    return browser.get(f"{server.url}/authorize", allow_redirects=False,
                       params={"client_id": client_id, "request_uri": request_uri, **extra})


def log_in_pushed(server: AuthServer, request_uri: str, **extra: str) -> requests.Response:
    browser = requests.Session()
    page = authorize_pushed(server, browser, request_uri, **extra)
    form = login_form(page)
    assert "request_uri" in form.action
    assert extra or "scope" not in form.action, "the pushed parameters stay off the page"
    return submit_login(browser, server.url, form, "alice", "wonderland")


def test_a_pushed_request_logs_in_with_only_client_id_and_request_uri_in_the_url(
        server: AuthServer) -> None:
    pkce = Pkce()
    pushed = push(server, pkce)
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < body["expires_in"] <= 600
    back = log_in_pushed(server, body["request_uri"])
    code = redirect_params(back)["code"]
    assert back.headers["Location"].startswith(REDIRECT_URI)
    assert exchange_code(server.url, code, pkce).status_code == 200


def test_a_request_uri_works_once(server: AuthServer) -> None:
    request_uri = push(server, Pkce()).json()["request_uri"]
    redirect_params(log_in_pushed(server, request_uri))
    again = authorize_pushed(server, requests.Session(), request_uri)
    assert again.status_code == 400 and "invalid_request_uri" in again.text


def test_another_clients_request_uri_is_refused(server: AuthServer) -> None:
    request_uri = push(server, Pkce()).json()["request_uri"]
    answer = authorize_pushed(server, requests.Session(), request_uri, client_id="other-app")
    assert answer.status_code == 400 and "invalid_request_uri" in answer.text


def test_an_expired_request_uri_is_refused(server: AuthServer,
                                           redis_server: RedisServer) -> None:
    request_uri = "urn:ietf:params:oauth:request_uri:short-lived"
    AuthStore(redis_server.client()).save_pushed_request(
        request_uri, "bff-demo", list(authorize_params(Pkce()).items()), 1)
    time.sleep(1.5)
    answer = authorize_pushed(server, requests.Session(), request_uri)
    assert answer.status_code == 400 and "invalid_request_uri" in answer.text


def test_parameters_beside_the_request_uri_are_ignored(server: AuthServer) -> None:
    request_uri = push(server, Pkce()).json()["request_uri"]
    back = log_in_pushed(server, request_uri, redirect_uri="https://evil.example/cb",
                         scope="openid orders:write", state="attacker")
    assert back.headers["Location"].startswith(REDIRECT_URI)
    assert redirect_params(back)["state"] != "attacker"


def test_prompt_and_max_age_come_from_the_pushed_request_only(server: AuthServer) -> None:
    browser = requests.Session()
    first = push(server, Pkce()).json()["request_uri"]
    page = authorize_pushed(server, browser, first)
    redirect_params(submit_login(browser, server.url, login_form(page), "alice", "wonderland"))
    silent = push(server, Pkce()).json()["request_uri"]
    assert "code" in redirect_params(authorize_pushed(server, browser, silent)), \
        "signed in at the provider: no form"
    fresh = push(server, Pkce(), prompt="login").json()["request_uri"]
    assert authorize_pushed(server, browser, fresh).status_code == 200, "the pushed prompt"
    smuggled = push(server, Pkce()).json()["request_uri"]
    page = authorize_pushed(server, requests.Session(), smuggled, prompt="none")
    assert page.status_code == 200 and "login_required" not in page.text, \
        "a prompt beside the request_uri is ignored"


@pytest.mark.parametrize(("attack", "client", "overrides", "error"), [
    ("unauthenticated_push", None, {}, "invalid_client"),
    ("wrong_secret", ("bff-demo", "nope"), {}, "invalid_client"),
    ("nested_request_uri", ("bff-demo", BFF_SECRET),
     {"request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
    ("foreign_redirect_uri", ("bff-demo", BFF_SECRET),
     {"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
    ("another_clients_id", ("bff-demo", BFF_SECRET), {"client_id": "other-app"},
     "invalid_request"),
    ("unregistered_resource", ("bff-demo", BFF_SECRET), {"resource": "https://evil.test"},
     "invalid_target"),
])
def test_bad_pushes_are_refused(server: AuthServer, attack: str,
                                client: tuple[str, str] | None, overrides: dict[str, str],
                                error: str) -> None:
    answer = push(server, Pkce(), client, **overrides)
    assert answer.status_code in (400, 401) and answer.json()["error"] == error, attack


def test_discovery_names_the_endpoint(server: AuthServer) -> None:
    document = requests.get(f"{server.url}/.well-known/openid-configuration").json()
    assert document["pushed_authorization_request_endpoint"] == f"{server.url}/par"
    assert document["require_pushed_authorization_requests"] is False


@pytest.fixture(scope="module")
def strict(redis_server: RedisServer) -> Iterator[AuthServer]:
    running = start_authserver(redis_server.url, config=config_text(
        extra="require_pushed_authorization_requests = true"))
    try:
        yield running
    finally:
        running.stop()


def test_a_provider_that_requires_pushing_refuses_url_parameters(strict: AuthServer) -> None:
    plain = requests.get(f"{strict.url}/authorize", allow_redirects=False,
                         params=authorize_params(Pkce()))
    assert plain.status_code == 400 and "push" in plain.text
    assert "Location" not in plain.headers, "no redirect for a request that was not pushed"
    request_uri = push(strict, Pkce()).json()["request_uri"]
    assert redirect_params(log_in_pushed(strict, request_uri))["code"]
    other = requests.post(f"{strict.url}/par", auth=("other-app", OTHER_SECRET),
                          data={**authorize_params(Pkce()), "client_id": "other-app",
                                "redirect_uri": "http://localhost:9000/callback"})
    assert other.status_code == 201

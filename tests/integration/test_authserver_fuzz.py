"""No parameter makes the authorization server answer 500 (the review's finding 8: a quote in
``redirect_uri`` made Authlib raise while writing the error). Hypothesis sends hostile values
(quotes, controls, unicode, long, repeated) to every endpoint of the real app, on a real Redis."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from bff.authserver.app import create_app
from bff.authserver.settings import load_settings
from tests.integration.authserver_support import BFF_SECRET, config_text
from tests.support import RedisServer

HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(['x"y', "x'y", "a\\b", "\x00", "\r\nX-Injected: 1", "%", "%00", "<script>",
                     "\u2028", "é" * 300, " ", "", "http://localhost:8000/bff/callback\"",
                     "javascript:alert(1)", "code", "S256", "plain", "bff-demo", "openid"]),
)
PARAMETER_NAMES = st.sampled_from([
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "max_age", "grant_type", "code", "code_verifier",
    "refresh_token", "token", "token_type_hint", "id_token_hint", "post_logout_redirect_uri",
    "logout_hint", "username", "password", "csrf_token", "resource", "audience", "request_uri",
])
PARAMETERS = st.lists(st.tuples(PARAMETER_NAMES, HOSTILE), max_size=8)


@pytest.fixture(scope="module")
def app(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    work = tmp_path_factory.mktemp("fuzz")
    config = work / "authserver.toml"
    config.write_text(config_text())
    settings_ = load_settings(str(config), {"BFF_AUTHSERVER_ISSUER": "http://localhost:1",
                                       "BFF_AUTHSERVER_REDIS_URL": redis_server.url,
                                       "BFF_AUTHSERVER_KEY_DIR": str(work / "keys")})
    yield create_app(settings_)


def client_of(app: Flask) -> FlaskClient:
    return app.test_client()


def test_the_reviews_quote_in_redirect_uri_gets_a_readable_page(app: Flask) -> None:
    answer = client_of(app).get("/authorize", query_string={
        "client_id": "bff-demo", "redirect_uri": 'x"y', "response_type": "code",
        "scope": "openid", "code_challenge": "a" * 43, "code_challenge_method": "S256"})
    assert answer.status_code == 400
    assert answer.mimetype == "text/html"


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(PARAMETERS, st.sampled_from(["/authorize", "/logout", "/userinfo"]),
       st.sampled_from(["GET", "POST"]))
def test_no_browser_parameter_makes_a_500(app: Flask, params: list[tuple[str, str]],
                                          path: str, method: str) -> None:
    client = client_of(app)
    if method == "GET":
        answer = client.get(path, query_string=params)
    else:
        answer = client.post(path, data=MultiDict(params))
    assert answer.status_code < 500, (path, params, answer.get_data(as_text=True)[:300])


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(PARAMETERS, st.sampled_from(["/token", "/introspect", "/revoke"]),
       st.sampled_from(["good", "none", "hostile"]), HOSTILE)
def test_no_client_parameter_makes_a_500(app: Flask, params: list[tuple[str, str]], path: str,
                                         auth: str, hostile: str) -> None:
    headers = {}
    if auth == "good":
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"bff-demo:{BFF_SECRET}".encode()).decode()
    elif auth == "hostile":
        headers["Authorization"] = "Basic " + base64.b64encode(
            hostile.encode("utf-8", "surrogatepass")).decode()
    answer = client_of(app).post(path, data=MultiDict(params), headers=headers)
    assert answer.status_code < 500, (path, params, answer.get_data(as_text=True)[:300])
    assert answer.mimetype == "application/json"

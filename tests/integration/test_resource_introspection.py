"""Introspection against a real issuer: revoked tokens are refused by the demo API."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server

from bff.resource import IntrospectionSettings, TokenValidator, ValidatorSettings
from bff.resource.demo_api import create_app
from bff.resource.errors import InvalidToken, ValidationUnavailable
from bff.resource.testing import LocalIssuer

#: Characters RFC 6749 §2.3.1 requires to be form-urlencoded inside HTTP Basic credentials.
AWKWARD_SECRET = "p%40ss:w rd+/é"


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer(client_id="demo api", client_secret=AWKWARD_SECRET) as issuer:
        yield issuer


def serve(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def api(issuer: LocalIssuer) -> Iterator[str]:
    introspection = IntrospectionSettings(client_id="demo api", client_secret=AWKWARD_SECRET,
                                          cache_ttl=60)
    yield from serve(create_app(issuer.url, introspection=introspection))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_active_token_is_accepted_and_the_answer_cached(api: str, issuer: LocalIssuer) -> None:
    token = issuer.mint("alice")
    before = issuer.introspections
    for _ in range(3):
        assert requests.get(f"{api}/orders", headers=bearer(token), timeout=10).status_code == 200
    assert issuer.introspections == before + 1


def test_revoked_token_is_refused_when_introspection_is_on(api: str,
                                                          issuer: LocalIssuer) -> None:
    token = issuer.mint("alice")
    issuer.revoke(token)
    response = requests.get(f"{api}/orders", headers=bearer(token), timeout=10)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token",
                               "error_description": "the access token is no longer active"}


def test_offline_invalid_token_never_reaches_introspection(api: str,
                                                           issuer: LocalIssuer) -> None:
    before = issuer.introspections
    token = issuer.mint("alice", claims={"aud": "billing-api"})
    assert requests.get(f"{api}/orders", headers=bearer(token), timeout=10).status_code == 401
    assert issuer.introspections == before


def test_revocation_is_seen_at_once_without_a_cache(issuer: LocalIssuer) -> None:
    validator = TokenValidator(
        ValidatorSettings(issuer=issuer.url, audience="demo-api"),
        introspection=IntrospectionSettings("demo api", AWKWARD_SECRET, cache_ttl=0),
    )
    token = issuer.mint("alice")
    assert validator.validate(token).sub == "alice"
    issuer.revoke(token)
    with pytest.raises(InvalidToken, match="no longer active"):
        validator.validate(token)


def test_wrong_client_secret_fails_closed(issuer: LocalIssuer) -> None:
    validator = TokenValidator(
        ValidatorSettings(issuer=issuer.url, audience="demo-api"),
        introspection=IntrospectionSettings("demo api", "not-the-secret"),
    )
    with pytest.raises(ValidationUnavailable):
        validator.validate(issuer.mint("alice"))


def test_introspection_outage_gives_503_json(issuer: LocalIssuer) -> None:
    introspection = IntrospectionSettings("demo api", AWKWARD_SECRET,
                                          endpoint="http://127.0.0.1:1/introspect", timeout=2)
    for api in serve(create_app(issuer.url, introspection=introspection)):
        response = requests.get(f"{api}/orders", headers=bearer(issuer.mint("alice")), timeout=10)
        assert response.status_code == 503
        assert response.json()["error"] == "temporarily_unavailable"

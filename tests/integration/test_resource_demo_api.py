"""The demo orders API as a real HTTP server, trusting a real local issuer's JWKS over HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from bff.resource import make_demo_server
from bff.resource.testing import LocalIssuer, forge_hmac_with_public_key, forge_unsigned


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def api(issuer: LocalIssuer) -> Iterator[str]:
    server = make_demo_server(issuer.url, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def alice(issuer: LocalIssuer) -> dict[str, str]:
    return bearer(issuer.mint("alice", "orders:read orders:write"))


def bob(issuer: LocalIssuer) -> dict[str, str]:
    return bearer(issuer.mint("bob", "orders:read"))


def refused_as_invalid(api: str, token: str) -> str:
    response = requests.get(f"{api}/orders", headers=bearer(token), timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="demo-api", error="invalid_token"')
    assert all(part not in challenge + response.text for part in token.split(".") if part)
    return response.json()["error_description"]


def test_healthz_answers_without_a_token(api: str) -> None:
    assert requests.get(f"{api}/healthz", timeout=10).status_code == 200


def test_new_user_sees_an_empty_list(api: str, issuer: LocalIssuer) -> None:
    headers = bearer(issuer.mint("carol", "orders:read"))
    response = requests.get(f"{api}/orders", headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"orders": []}


def test_alice_creates_and_lists_her_orders(api: str, issuer: LocalIssuer) -> None:
    created = requests.post(f"{api}/orders", json={"item": "tea", "quantity": 3},
                            headers=alice(issuer), timeout=10)
    assert created.status_code == 201
    order = created.json()
    assert set(order) == {"id", "item", "quantity", "created_at"}
    assert (order["item"], order["quantity"]) == ("tea", 3)
    listed = requests.get(f"{api}/orders", headers=alice(issuer), timeout=10).json()["orders"]
    assert order in listed
    one = requests.get(f"{api}/orders/{order['id']}", headers=alice(issuer), timeout=10)
    assert one.json() == order


def test_bob_without_write_scope_gets_403_insufficient_scope(api: str,
                                                             issuer: LocalIssuer) -> None:
    response = requests.post(f"{api}/orders", json={"item": "saw", "quantity": 1},
                             headers=bob(issuer), timeout=10)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="orders:write"' in challenge


def test_bob_cannot_see_alices_orders(api: str, issuer: LocalIssuer) -> None:
    order = requests.post(f"{api}/orders", json={"item": "secret cake", "quantity": 1},
                          headers=alice(issuer), timeout=10).json()
    listed = requests.get(f"{api}/orders", headers=bob(issuer), timeout=10)
    assert listed.status_code == 200
    assert "secret cake" not in listed.text and order["id"] not in listed.text
    by_id = requests.get(f"{api}/orders/{order['id']}", headers=bob(issuer), timeout=10)
    assert by_id.status_code == 404


def test_token_for_another_user_named_in_the_body_changes_nothing(api: str,
                                                                  issuer: LocalIssuer) -> None:
    requests.post(f"{api}/orders", json={"item": "mine", "quantity": 1, "owner": "bob",
                                         "sub": "bob"}, headers=alice(issuer), timeout=10)
    assert "mine" not in requests.get(f"{api}/orders", headers=bob(issuer), timeout=10).text


@pytest.mark.parametrize(("body", "message"), [
    ({"quantity": 1}, "item is required"),
    ({"item": "tea"}, "quantity is required"),
    ({"item": 7, "quantity": 1}, "item must be a string"),
    ({"item": "", "quantity": 1}, "item must not be empty"),
    ({"item": "x" * 201, "quantity": 1}, "at most 200"),
    ({"item": "tea", "quantity": "1"}, "integer"),
    ({"item": "tea", "quantity": 0}, "from 1 to 1000"),
    ({"item": "tea", "quantity": 1001}, "from 1 to 1000"),
    (["tea", 1], "JSON object"),
])
def test_bad_post_bodies_get_400(api: str, issuer: LocalIssuer, body: object,
                                 message: str) -> None:
    response = requests.post(f"{api}/orders", json=body, headers=alice(issuer), timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert message in response.json()["error_description"]


def test_non_json_post_body_gets_400(api: str, issuer: LocalIssuer) -> None:
    for data, content_type in (("item=tea&quantity=1", "application/x-www-form-urlencoded"),
                               ("{not json", "application/json")):
        response = requests.post(f"{api}/orders", data=data, timeout=10,
                                 headers={**alice(issuer), "Content-Type": content_type})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


def test_oversized_post_body_gets_413_json(api: str, issuer: LocalIssuer) -> None:
    response = requests.post(f"{api}/orders", json={"item": "x" * 100_000, "quantity": 1},
                             headers=alice(issuer), timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]


def test_unknown_path_and_method_get_json_errors(api: str, issuer: LocalIssuer) -> None:
    assert requests.get(f"{api}/nope", timeout=10).json()["error"] == "not_found"
    deleted = requests.delete(f"{api}/orders", headers=alice(issuer), timeout=10)
    assert deleted.status_code == 405 and deleted.json()["error"] == "method_not_allowed"


def test_request_without_token_gets_401_without_error_attribute(api: str) -> None:
    response = requests.get(f"{api}/orders", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="demo-api"'


def test_alg_none_token_is_rejected(api: str, issuer: LocalIssuer) -> None:
    assert "algorithm" in refused_as_invalid(api, forge_unsigned(issuer.mint("alice")))


def test_hmac_signed_with_public_key_is_rejected(api: str, issuer: LocalIssuer) -> None:
    pem = issuer.default_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = forge_hmac_with_public_key(issuer.mint("alice"), pem)
    assert "algorithm" in refused_as_invalid(api, forged)


def test_wrong_issuer_is_rejected(api: str, issuer: LocalIssuer) -> None:
    token = issuer.mint("alice", claims={"iss": "http://127.0.0.1:1"})
    assert "issuer" in refused_as_invalid(api, token)


def test_wrong_audience_is_rejected(api: str, issuer: LocalIssuer) -> None:
    token = issuer.mint("alice", claims={"aud": "billing-api"})
    assert "audience" in refused_as_invalid(api, token)


def test_expired_token_is_rejected(api: str, issuer: LocalIssuer) -> None:
    now = int(time.time())
    token = issuer.mint("alice", claims={"iat": now - 900, "exp": now - 60})
    assert "expired" in refused_as_invalid(api, token)


def test_not_yet_valid_token_is_rejected(api: str, issuer: LocalIssuer) -> None:
    token = issuer.mint("alice", claims={"nbf": int(time.time()) + 300})
    assert "not valid yet" in refused_as_invalid(api, token)


def test_wrong_typ_is_rejected(api: str, issuer: LocalIssuer) -> None:
    token = issuer.mint("alice", header={"typ": "JWT"})
    assert "typ" in refused_as_invalid(api, token)


def test_unknown_kid_is_rejected(api: str, issuer: LocalIssuer) -> None:
    stranger = issuer.new_key(publish=False)
    assert "unknown key" in refused_as_invalid(api, issuer.mint("alice", key=stranger))


def test_tampered_signature_is_rejected(api: str, issuer: LocalIssuer) -> None:
    head, body, signature = issuer.mint("alice").split(".")
    flipped = "A" if signature[20] != "A" else "B"
    tampered = f"{head}.{body}.{signature[:20]}{flipped}{signature[21:]}"
    assert "signature" in refused_as_invalid(api, tampered)

"""The whole product as a user meets it: `bff demo`, a scripted browser, login to logout."""

from __future__ import annotations

import re

import requests

from tests.support import XHR, DemoStack, log_in, parse_form, submit_login

JWT_SHAPE = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]*")


def test_alice_logs_in_reads_and_adds_orders_and_logs_out(demo_stack: DemoStack) -> None:
    browser = requests.Session()
    landing = log_in(browser, demo_stack.bff_url, "alice", "wonderland", return_url="/")
    assert landing.status_code == 200
    assert landing.url == f"{demo_stack.bff_url}/"
    assert "text/html" in landing.headers["Content-Type"]

    user = browser.get(f"{demo_stack.bff_url}/bff/user", headers=XHR)
    assert user.status_code == 200
    body = user.json()
    assert body["name"] == "Alice Liddell"
    assert "orders:write" in body["scope"].split()
    assert body["logout_url"].startswith("/bff/logout?sid=")
    assert not JWT_SHAPE.search(user.text)

    created = browser.post(f"{demo_stack.bff_url}/api/orders", headers=XHR,
                           json={"item": "Tea set", "quantity": 2})
    assert created.status_code == 201, created.text
    orders = browser.get(f"{demo_stack.bff_url}/api/orders", headers=XHR)
    assert orders.status_code == 200
    assert "Tea set" in [o["item"] for o in orders.json()["orders"]]
    assert not JWT_SHAPE.search(orders.text)

    keys_before = set(demo_stack.redis.client().keys("bff:{*}:session"))
    assert keys_before
    logout = browser.post(f"{demo_stack.bff_url}/bff/logout", headers=XHR)
    assert logout.status_code == 200
    assert "redirect" in logout.json()
    cookie_header = logout.headers.get("Set-Cookie", "")
    assert "bff=;" in cookie_header or "bff=\"\";" in cookie_header
    assert len(set(demo_stack.redis.client().keys("bff:{*}:session"))) == len(keys_before) - 1
    after = browser.get(f"{demo_stack.bff_url}/bff/user", headers=XHR)
    assert after.status_code == 401
    assert after.json()["error"] == "login_required"


def test_no_response_the_browser_receives_contains_a_token(demo_stack: DemoStack) -> None:
    browser = requests.Session()
    seen: list[requests.Response] = []
    browser.hooks["response"].append(lambda r, *a, **k: seen.append(r))
    log_in(browser, demo_stack.bff_url, "alice", "wonderland")
    browser.get(f"{demo_stack.bff_url}/bff/user", headers=XHR)
    browser.get(f"{demo_stack.bff_url}/api/orders", headers=XHR)
    bff_responses = [r for r in seen if r.url.startswith(demo_stack.bff_url)]
    assert len(bff_responses) >= 4
    for response in bff_responses:
        assert not JWT_SHAPE.search(response.text), response.url
        assert not JWT_SHAPE.search(str(response.headers)), response.url
        assert not JWT_SHAPE.search(response.url)
    session_cookie = browser.cookies.get("bff", domain="localhost.local") or \
        browser.cookies.get("bff")
    assert session_cookie and not JWT_SHAPE.search(session_cookie)


def test_session_cookie_is_httponly_and_samesite(demo_stack: DemoStack) -> None:
    browser = requests.Session()
    page = browser.get(f"{demo_stack.bff_url}/bff/login", params={"returnUrl": "/"})
    form = parse_form(page.text)
    fields = {**form.fields, "username": "bob", "password": "builder"}
    response = browser.post(requests.compat.urljoin(page.url, form.action), data=fields,
                            allow_redirects=False)
    while response.is_redirect and not response.headers["Location"].startswith(
            demo_stack.bff_url + "/bff/callback"):
        response = browser.get(response.headers["Location"], allow_redirects=False)
    callback = browser.get(response.headers["Location"], allow_redirects=False)
    set_cookie = callback.headers["Set-Cookie"]
    assert "bff=" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "SameSite=Lax" in set_cookie
    assert "Path=/" in set_cookie


def test_bob_sees_only_his_orders_and_cannot_add(demo_stack: DemoStack) -> None:
    alice, bob = requests.Session(), requests.Session()
    log_in(alice, demo_stack.bff_url, "alice", "wonderland")
    alice.post(f"{demo_stack.bff_url}/api/orders", headers=XHR,
               json={"item": "Alice's secret cake", "quantity": 1})
    log_in(bob, demo_stack.bff_url, "bob", "builder")
    orders = bob.get(f"{demo_stack.bff_url}/api/orders", headers=XHR)
    assert orders.status_code == 200
    assert "Alice's secret cake" not in orders.text
    refused = bob.post(f"{demo_stack.bff_url}/api/orders", headers=XHR,
                       json={"item": "Hammer", "quantity": 1})
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"


def test_api_without_csrf_header_is_refused(demo_stack: DemoStack) -> None:
    browser = requests.Session()
    log_in(browser, demo_stack.bff_url, "alice", "wonderland")
    refused = browser.get(f"{demo_stack.bff_url}/api/orders")
    assert refused.status_code == 403
    assert refused.json()["error"] == "csrf_rejected"
    refused_user = browser.get(f"{demo_stack.bff_url}/bff/user")
    assert refused_user.status_code == 403


def test_api_without_session_gives_401_json(demo_stack: DemoStack) -> None:
    response = requests.get(f"{demo_stack.bff_url}/api/orders", headers=XHR)
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "login_required"


def test_open_redirect_through_return_url_is_refused(demo_stack: DemoStack) -> None:
    for target in ("https://evil.example", "//evil.example", "/\\evil.example"):
        response = requests.get(f"{demo_stack.bff_url}/bff/login", params={"returnUrl": target},
                                allow_redirects=False, headers={"Accept": "text/html"})
        assert response.status_code == 400
        assert "evil.example" not in response.headers.get("Location", "")
        assert "<html" in response.text.lower()


def test_wrong_password_shows_an_error_on_the_login_page(demo_stack: DemoStack) -> None:
    browser = requests.Session()
    page = browser.get(f"{demo_stack.bff_url}/bff/login", params={"returnUrl": "/"})
    response = submit_login(browser, page, "alice", "not-her-password")
    assert response.url.startswith(demo_stack.issuer)
    assert "password" in response.text.lower()
    assert re.search(r"(invalid|wrong|incorrect)", response.text, re.IGNORECASE)
    assert browser.get(f"{demo_stack.bff_url}/bff/user", headers=XHR).status_code == 401


def test_spa_is_served_with_a_strict_content_security_policy(demo_stack: DemoStack) -> None:
    page = requests.get(f"{demo_stack.bff_url}/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    deep_link = requests.get(f"{demo_stack.bff_url}/orders/42")
    assert deep_link.status_code == 200 and deep_link.text == page.text


def test_health_endpoint_answers(demo_stack: DemoStack) -> None:
    assert requests.get(f"{demo_stack.bff_url}/healthz").json() == {"status": "ok"}
    assert requests.get(f"{demo_stack.bff_url}/readyz").status_code == 200

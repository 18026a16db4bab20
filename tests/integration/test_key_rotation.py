"""Invariant 2: keys rotate without logging anyone out.

The demo BFF seals with K1. A second BFF process configured ``K2,K1`` (the first encrypts, all
decrypt) serves the same sessions; the first write after rotation re-seals a record with K2;
a BFF holding only K2 then serves it; and a BFF without the key cannot read a record but does
not destroy it either.
"""

from __future__ import annotations

import json

import requests

from bff.sansio.keyspace import session_record_key
from bff.settings import decode_secret_key, generate_secret_key
from tests.integration.session_support import (
    KnownStack,
    expire_access_token,
    start_instance,
)
from tests.support import XHR, log_in


def kid(key: str) -> str:
    return decode_secret_key(key).kid


def sealed_with(stack: KnownStack, handle: str) -> str:
    """The key id on the record's sealed tokens."""
    record = json.loads(stack.redis.client().get(session_record_key(handle)))
    return record["tok"].partition(".")[0]


def works(url: str, browser: requests.Session) -> bool:
    user = browser.get(f"{url}/bff/user", headers=XHR)
    orders = browser.get(f"{url}/api/orders", headers=XHR)
    return user.status_code == 200 and orders.status_code == 200


def test_sessions_created_under_the_old_key_keep_working_and_move_to_the_new_key(
        stack: KnownStack) -> None:
    old, new = stack.keys, generate_secret_key()
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    assert works(stack.bff_url, browser), "the orders route's resource token, under the old key"
    session = stack.session(browser)
    assert session is not None
    assert sealed_with(stack, session.handle) == kid(old)

    rotated = start_instance(stack, f"{new},{old}")
    try:
        assert works(rotated.url, browser)
        assert sealed_with(stack, session.handle) == kid(old)
        current = stack.session(browser)
        assert current is not None
        expire_access_token(stack.store(), current)
        assert works(rotated.url, browser)
        assert sealed_with(stack, session.handle) == kid(new)
    finally:
        rotated.stop()

    new_only = start_instance(stack, new)
    try:
        assert works(new_only.url, browser)
        refreshed = stack.session(browser, keys=new)
        assert refreshed is not None and refreshed.sub == "alice"
    finally:
        new_only.stop()


def test_instance_missing_the_key_does_not_destroy_sessions(stack: KnownStack) -> None:
    browser = requests.Session()
    log_in(browser, stack.bff_url, "alice", "wonderland")
    session = stack.session(browser)
    assert session is not None
    stranger = start_instance(stack, generate_secret_key())
    try:
        refused = browser.get(f"{stranger.url}/bff/user", headers=XHR)
        assert refused.status_code == 401
        assert refused.json()["error"] == "login_required"
    finally:
        stranger.stop()
    assert stack.redis.client().exists(session_record_key(session.handle))
    assert works(stack.bff_url, browser)

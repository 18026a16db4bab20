"""The session store on a real Redis: compare-and-set records (invariant 4), idle and absolute
expiry by TTL (invariant 3), the sub/sid index, sealing bound to one session (invariant 2), and
the Redis Cluster layout of per-session keys."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import redis
from redis.crc import key_slot

from bff.sansio.keyspace import (
    refresh_grace_key,
    refresh_lock_key,
    session_handle,
    session_index_key,
    session_record_key,
)
from bff.sealing import Sealer
from bff.sessions import GRACE_SECONDS, SessionStore, TokenSet
from bff.settings import decode_secret_key, generate_secret_key
from tests.integration.session_support import store_for
from tests.support import RedisServer

IDLE = 600
LIFETIME = 3600


@pytest.fixture
def client(redis_server: RedisServer) -> redis.Redis:
    return redis_server.client()


@pytest.fixture
def store(client: redis.Redis) -> SessionStore:
    return store_for(client, generate_secret_key(), session_idle_timeout=IDLE,
                     session_lifetime=LIFETIME)


def tokens(suffix: str, expires_in: float = 300) -> TokenSet:
    now = time.time()
    return TokenSet(access_token=f"access-{suffix}", refresh_token=f"refresh-{suffix}",
                    access_expires_at=now + expires_in,
                    access_issued_at=now, scope=("openid", "orders:read"))


def rewrite(client: redis.Redis, session_id: str, **fields: object) -> None:
    """Edit the record's plain fields in place, keeping its TTL (what a clock jump would do)."""
    key = session_record_key(session_handle(session_id))
    record = json.loads(client.get(key))
    record.update(fields)
    client.set(key, json.dumps(record), keepttl=True)


def test_concurrent_writers_from_the_same_version_one_wins(store: SessionStore) -> None:
    session_id, session = store.create(tokens("0"), sub="alice", sid="s1", claims={})
    first = store.replace_tokens(session, tokens("1"))
    second = store.replace_tokens(session, tokens("2"))
    assert first is not None and second is None
    current = store.load(session_id, slide=False)
    assert current is not None
    assert current.tokens.refresh_token == "refresh-1"
    assert current.version == session.version + 1


def test_stale_writer_cannot_overwrite_a_rotated_refresh_token(store: SessionStore) -> None:
    """A slow request holding an old copy writes after a refresh: its write is refused."""
    session_id, stale = store.create(tokens("0"), sub="alice", sid=None, claims={})
    rotated = store.replace_tokens(stale, tokens("1"))
    assert rotated is not None and store.replace_tokens(rotated, tokens("2")) is not None
    assert store.replace_tokens(stale, tokens("stale")) is None
    assert store.replace_tokens(rotated, tokens("stale")) is None
    current = store.load(session_id, slide=False)
    assert current is not None and current.tokens.refresh_token == "refresh-2"


def test_write_to_a_deleted_session_does_not_bring_it_back(store: SessionStore) -> None:
    session_id, session = store.create(tokens("0"), sub="alice", sid=None, claims={})
    store.delete(session.handle)
    assert store.replace_tokens(session, tokens("1")) is None
    assert store.load(session_id) is None


def test_sliding_extends_the_ttl_without_writing_the_record(store: SessionStore,
                                                            client: redis.Redis) -> None:
    session_id, session = store.create(tokens("0"), sub="alice", sid=None, claims={})
    key = session_record_key(session.handle)
    client.pexpire(key, 5000)
    before = client.get(key)
    assert store.load(session_id, slide=False) is not None
    assert client.pttl(key) <= 5000
    assert store.load(session_id) is not None
    assert client.pttl(key) > (IDLE - 5) * 1000
    assert client.get(key) == before


def test_idle_session_expires_by_itself(store: SessionStore, client: redis.Redis) -> None:
    session_id, session = store.create(tokens("0"), sub="alice", sid=None, claims={})
    assert 0 < client.pttl(session_record_key(session.handle)) <= IDLE * 1000
    client.pexpire(session_record_key(session.handle), 1)
    time.sleep(0.01)
    assert store.load(session_id) is None


def test_sliding_never_passes_the_absolute_lifetime(store: SessionStore,
                                                    client: redis.Redis) -> None:
    session_id, session = store.create(tokens("0"), sub="alice", sid=None, claims={})
    rewrite(client, session_id, expires_at=time.time() + 30)
    loaded = store.load(session_id)
    assert loaded is not None
    assert client.pttl(session_record_key(session.handle)) <= 30_000
    assert loaded.session_expires_at <= time.time() + 30


def test_session_past_its_absolute_lifetime_is_gone_with_its_index(
        store: SessionStore, client: redis.Redis) -> None:
    session_id, session = store.create(tokens("0"), sub="carol", sid="sid-carol", claims={})
    rewrite(client, session_id, expires_at=time.time() - 1)
    assert store.load(session_id) is None
    assert client.get(session_record_key(session.handle)) is None
    assert session.handle not in store.handles_for(sub="carol", sid="sid-carol")


def test_sessions_are_found_by_sub_and_sid(store: SessionStore) -> None:
    _, one = store.create(tokens("1"), sub="dave", sid="sid-a", claims={})
    _, two = store.create(tokens("2"), sub="dave", sid="sid-b", claims={})
    assert store.handles_for(sub="dave") == {one.handle, two.handle}
    assert store.handles_for(sid="sid-a") == {one.handle}
    store.delete(one.handle)
    assert store.handles_for(sub="dave") == {two.handle}
    assert store.handles_for(sid="sid-a") == set()


def test_record_copied_under_another_session_does_not_open(store: SessionStore,
                                                           client: redis.Redis) -> None:
    victim_id, victim = store.create(tokens("victim"), sub="alice", sid=None, claims={})
    attacker_id, attacker = store.create(tokens("attacker"), sub="mallory", sid=None, claims={})
    client.set(session_record_key(attacker.handle), client.get(session_record_key(victim.handle)),
               keepttl=True)
    assert store.load(attacker_id) is None
    victim_record = json.loads(client.get(session_record_key(victim.handle)))
    rewrite(client, attacker_id, tok=victim_record["tok"], sub="mallory")
    assert store.load(attacker_id) is None
    assert store.load(victim_id) is not None


def test_unopenable_record_is_left_for_an_instance_that_has_the_key(
        store: SessionStore, client: redis.Redis) -> None:
    """A BFF missing the key (a rolling key change) must not delete what it cannot read."""
    session_id, session = store.create(tokens("0"), sub="alice", sid=None, claims={})
    stranger = store_for(client, generate_secret_key())
    assert stranger.load(session_id) is None
    assert client.get(session_record_key(session.handle)) is not None
    assert store.load(session_id) is not None


def test_grace_record_answers_only_for_the_spent_token_of_that_session(
        store: SessionStore, client: redis.Redis) -> None:
    _, session = store.create(tokens("0"), sub="alice", sid=None, claims={})
    _, other = store.create(tokens("x"), sub="bob", sid=None, claims={})
    successor = tokens("1")
    store.save_grace(session.handle, "refresh-0", successor)
    found = store.grace_for(session.handle, "refresh-0")
    assert found is not None
    assert dataclasses.astuple(found) == dataclasses.astuple(successor)
    assert store.grace_for(session.handle, "refresh-other") is None
    assert store.grace_for(other.handle, "refresh-0") is None
    assert 0 < client.ttl(refresh_grace_key(session.handle)) <= GRACE_SECONDS
    client.set(refresh_grace_key(other.handle), client.get(refresh_grace_key(session.handle)))
    assert store.grace_for(other.handle, "refresh-0") is None


def test_per_session_keys_share_one_cluster_slot() -> None:
    handle = session_handle("some-session-id")
    slots = {key_slot(k.encode()) for k in (session_record_key(handle), refresh_lock_key(handle),
                                            refresh_grace_key(handle))}
    assert len(slots) == 1
    assert session_index_key("sub", "alice").startswith("bff:index:sub:{")


def test_records_sealed_before_compression_still_open(client: redis.Redis) -> None:
    """A rolling upgrade: records an older instance wrote hold plain JSON in the envelope."""
    key_text = generate_secret_key()
    store = store_for(client, key_text)
    session_id, session = store.create(tokens("old"), "alice", None, {"sub": "alice"})
    key = session_record_key(session.handle)
    record = json.loads(client.get(key))
    sealer = Sealer((decode_secret_key(key_text),))
    secret = json.dumps({"a": "access-old", "r": "refresh-old"})
    record["tok"] = sealer.seal(secret.encode(), f"{session.handle}:tokens")
    client.set(key, json.dumps(record), keepttl=True)
    loaded = store.load(session_id)
    assert loaded is not None
    assert (loaded.tokens.access_token, loaded.tokens.refresh_token) == ("access-old",
                                                                         "refresh-old")

"""Introspector: a short positive cache, no negative cache, bounded size."""

from __future__ import annotations

from bff.resource.introspection import Introspector


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.revoked: set[str] = set()

    def __call__(self, token: str) -> dict[str, object]:
        self.asked.append(token)
        return {"active": token not in self.revoked}


def test_active_answer_is_reused_within_ttl_only() -> None:
    issuer, clock = Issuer(), FakeClock()
    introspector = Introspector(issuer, cache_ttl=5, clock=clock)
    assert introspector.is_active("t1") and introspector.is_active("t1")
    assert issuer.asked == ["t1"]
    clock.now += 5
    assert introspector.is_active("t1")
    assert issuer.asked == ["t1", "t1"]


def test_revocation_is_seen_once_the_cached_answer_expires() -> None:
    issuer, clock = Issuer(), FakeClock()
    introspector = Introspector(issuer, cache_ttl=5, clock=clock)
    assert introspector.is_active("t1")
    issuer.revoked.add("t1")
    clock.now += 5
    assert not introspector.is_active("t1")


def test_inactive_answer_is_never_cached() -> None:
    issuer = Issuer()
    issuer.revoked.add("t1")
    introspector = Introspector(issuer, cache_ttl=5, clock=FakeClock())
    assert not introspector.is_active("t1") and not introspector.is_active("t1")
    assert issuer.asked == ["t1", "t1"]


def test_answer_without_boolean_active_true_counts_as_inactive() -> None:
    for answer in ({}, {"active": "true"}, {"active": 1}):
        assert not Introspector(lambda token, a=answer: a).is_active("t")


def test_zero_ttl_asks_every_time() -> None:
    issuer = Issuer()
    introspector = Introspector(issuer, cache_ttl=0, clock=FakeClock())
    introspector.is_active("t1")
    introspector.is_active("t1")
    assert issuer.asked == ["t1", "t1"]


def test_cache_is_bounded() -> None:
    issuer = Issuer()
    introspector = Introspector(issuer, cache_ttl=60, max_cached=2, clock=FakeClock())
    for token in ("t1", "t2", "t3"):
        introspector.is_active(token)
    introspector.is_active("t3")
    introspector.is_active("t1")
    assert issuer.asked == ["t1", "t2", "t3", "t1"]

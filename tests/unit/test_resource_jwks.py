"""JwksCache: rotations are picked up, floods of made-up kids are not, outages keep old keys."""

from __future__ import annotations

import pytest

from bff.resource.fetching import FetchFailed
from bff.resource.jwks import JwksCache, KeysUnavailable, UnknownKey, signing_keys
from bff.resource.testing import SigningKey, TokenMint


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingIssuer:
    """The issuer's JWKS endpoint as a function: counts fetches, can be switched off."""

    def __init__(self, mint: TokenMint) -> None:
        self.mint = mint
        self.fetches = 0
        self.down = False

    def __call__(self) -> object:
        self.fetches += 1
        if self.down:
            raise FetchFailed("connection refused")
        return self.mint.jwks()


@pytest.fixture
def mint() -> TokenMint:
    return TokenMint("https://issuer.test")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(mint: TokenMint) -> CountingIssuer:
    return CountingIssuer(mint)


@pytest.fixture
def cache(issuer: CountingIssuer, clock: FakeClock) -> JwksCache:
    return JwksCache(issuer, max_age=300, refetch_interval=5, clock=clock)


def test_known_kid_is_served_from_cache(mint: TokenMint, issuer: CountingIssuer,
                                        cache: JwksCache) -> None:
    for _ in range(10):
        assert cache.key_for(mint.default_key.kid).key_id == mint.default_key.kid
    assert issuer.fetches == 1


def test_unknown_kid_refetch_is_rate_limited(issuer: CountingIssuer, clock: FakeClock,
                                             cache: JwksCache, mint: TokenMint) -> None:
    first_fetch = clock.now
    cache.key_for(mint.default_key.kid)
    for attempt in range(100):
        clock.now += 0.04
        with pytest.raises(UnknownKey):
            cache.key_for(f"made-up-{attempt}")
    assert issuer.fetches == 1
    clock.now = first_fetch + 5
    for attempt in range(100):
        with pytest.raises(UnknownKey):
            cache.key_for(f"made-up-again-{attempt}")
    assert issuer.fetches == 2


def test_rotated_key_is_picked_up_after_the_interval(mint: TokenMint, issuer: CountingIssuer,
                                                     clock: FakeClock, cache: JwksCache) -> None:
    cache.key_for(mint.default_key.kid)
    rotated = mint.new_key()
    clock.now += 1
    with pytest.raises(UnknownKey):
        cache.key_for(rotated.kid)
    clock.now += 5
    assert cache.key_for(rotated.kid).key_id == rotated.kid
    assert issuer.fetches == 2


def test_keys_are_refetched_when_older_than_max_age(mint: TokenMint, issuer: CountingIssuer,
                                                    clock: FakeClock, cache: JwksCache) -> None:
    cache.key_for(mint.default_key.kid)
    clock.now += 301
    cache.key_for(mint.default_key.kid)
    assert issuer.fetches == 2


def test_withdrawn_key_stops_working_after_max_age(mint: TokenMint, clock: FakeClock,
                                                   cache: JwksCache) -> None:
    old = mint.new_key()
    cache.key_for(old.kid)
    mint.withdraw(old)
    clock.now += 301
    with pytest.raises(UnknownKey):
        cache.key_for(old.kid)


def test_issuer_outage_keeps_the_keys_we_have(mint: TokenMint, issuer: CountingIssuer,
                                              clock: FakeClock, cache: JwksCache) -> None:
    cache.key_for(mint.default_key.kid)
    issuer.down = True
    clock.now += 301
    assert cache.key_for(mint.default_key.kid).key_id == mint.default_key.kid


def test_failed_fetches_are_rate_limited_too(issuer: CountingIssuer, clock: FakeClock,
                                             cache: JwksCache, mint: TokenMint) -> None:
    issuer.down = True
    for _ in range(50):
        with pytest.raises(KeysUnavailable):
            cache.key_for(mint.default_key.kid)
    assert issuer.fetches == 1
    issuer.down = False
    clock.now += 5
    assert cache.key_for(mint.default_key.kid).key_id == mint.default_key.kid
    assert issuer.fetches == 2


def test_symmetric_encryption_and_kidless_keys_are_not_signing_keys() -> None:
    good = SigningKey.generate("ES256", kid="good")
    enc = {**SigningKey.generate("RS256", kid="enc").public_jwk(), "use": "enc"}
    kidless = {k: v for k, v in SigningKey.generate("RS256").public_jwk().items() if k != "kid"}
    symmetric = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
    keys = signing_keys({"keys": [good.public_jwk(), enc, kidless, symmetric, {"kty": "??"}]})
    assert list(keys) == ["good"]


@pytest.mark.parametrize("document", [
    [], "keys", {"keys": []}, {"keys": [{"kty": "oct", "kid": "x", "k": "AA"}]},
])
def test_jwks_without_public_signing_keys_is_a_failed_fetch(document: object) -> None:
    with pytest.raises(FetchFailed):
        signing_keys(document)

"""Offline validation of RFC 9068 JWT access tokens, plus introspection when an API asks for it.

The signing key is chosen by the token's ``kid`` among the issuer's published keys only, and the
algorithm must be both on the allow-list and the key's own: a token cannot pick ``none``, an HMAC
keyed with the public key, or any key of its own (``jku``, ``jwk`` and ``x5u`` are never read).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt
import requests
from jwt import exceptions as jwt_errors

from bff.resource.discovery import Discovery
from bff.resource.dpop import InvalidDpopProof, ProofReplay, UseDpopNonce
from bff.resource.errors import InvalidToken, ValidationUnavailable
from bff.resource.fetching import FetchFailed, http_json_fetcher
from bff.resource.introspection import Introspector, http_introspection_call
from bff.resource.jwks import JwksCache, KeysUnavailable, UnknownKey
from bff.resource.revocations import RevocationList
from bff.resource.settings import IntrospectionSettings, ValidatorSettings
from bff.sansio.dpop import DpopError, nonce_is_current, server_nonce, verify_proof

log = logging.getLogger(__name__)

PROOF_MAX_AGE = 300

#: Claims no access token may lack, whatever ``required_claims`` says: no expiry means forever.
ALWAYS_REQUIRED = ("iss", "aud", "exp", "sub")

#: PyJWT's exceptions turned into our own fixed sentences, most specific first.
_DESCRIPTIONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.ExpiredSignatureError, "the access token has expired"),
    (jwt_errors.ImmatureSignatureError, "the access token is not valid yet"),
    (jwt_errors.InvalidAudienceError, "the access token is meant for another audience"),
    (jwt_errors.InvalidIssuerError, "the access token comes from another issuer"),
    (jwt_errors.InvalidSignatureError, "the access token signature is not valid"),
    (jwt_errors.InvalidAlgorithmError, "the access token signing algorithm is not allowed"),
    (jwt_errors.InvalidIssuedAtError, "the access token iat claim is not valid"),
    (jwt_errors.InvalidSubjectError, "the access token sub claim is not valid"),
    (jwt_errors.InvalidJTIError, "the access token jti claim is not valid"),
    (jwt_errors.InvalidKeyError, "the access token signing key is not acceptable"),
    (jwt_errors.DecodeError, "the access token is malformed"),
)


@dataclass(frozen=True)
class AccessToken:
    """What a validated token says; the token string itself is deliberately not kept."""

    sub: str
    scopes: frozenset[str]
    client_id: str | None
    issuer: str
    audiences: tuple[str, ...]
    expires_at: int
    jti: str | None
    claims: Mapping[str, Any]
    actor: str | None = None
    """The client acting for the user (RFC 8693 ``act.sub``), when the token was exchanged."""

    def has_scopes(self, required: Iterable[str]) -> bool:
        return set(required) <= self.scopes


def parse_scopes(value: object) -> frozenset[str]:
    """RFC 9068 ``scope`` is one space-separated string; a JSON list of strings is tolerated."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise InvalidToken("the access token scope claim is not valid")


def token_actor(act: object) -> str | None:
    """RFC 8693 section 4.1: ``act`` is an object whose ``sub`` names the current actor;
    anything else there makes the token unusable rather than silently actor-less."""
    if act is None:
        return None
    if not isinstance(act, dict) or not isinstance(act.get("sub"), str) or not act["sub"]:
        raise InvalidToken("the access token act claim is not valid")
    return act["sub"]


def _media_type(value: object) -> str | None:
    """RFC 7515 §4.1.9: ``typ`` compares case-insensitively and may omit ``application/``."""
    if not isinstance(value, str):
        return None
    return value.lower().removeprefix("application/")


def _describe(error: jwt_errors.PyJWTError) -> str:
    if isinstance(error, jwt_errors.MissingRequiredClaimError):
        return f"the access token lacks the {error.claim} claim"
    for kind, description in _DESCRIPTIONS:
        if isinstance(error, kind):
            return description
    return InvalidToken.description


class TokenValidator:
    """Validates bearer tokens for one API (one issuer, one audience); safe to share across threads.

    ``keys`` and ``introspector`` are seams for tests; by default both are built from the settings,
    with endpoints found by discovery on first use. ``session`` carries TLS trust (``verify``) or
    proxies for every call to the issuer.
    """

    def __init__(self, settings: ValidatorSettings, *,
                 introspection: IntrospectionSettings | None = None,
                 keys: JwksCache | None = None, introspector: Introspector | None = None,
                 session: requests.Session | None = None,
                 revocations: RevocationList | None = None,
                 replay: ProofReplay | None = None) -> None:
        self.settings = settings
        self._session = session or requests.Session()
        self._fetch = http_json_fetcher(self._session, settings.http_timeout)
        self._discovery = Discovery(
            settings.issuer, self._fetch, retry_interval=settings.jwks_refetch_interval
        )
        self._keys = keys or JwksCache(
            self._load_jwks, max_age=settings.jwks_max_age,
            refetch_interval=settings.jwks_refetch_interval,
        )
        if introspector is None and introspection is not None:
            introspector = Introspector(
                http_introspection_call(
                    self._session, self._introspection_endpoint_for(introspection), introspection
                ),
                cache_ttl=introspection.cache_ttl, max_cached=introspection.max_cached,
            )
        self._introspector = introspector
        self._revocations = revocations
        self._replay = replay or ProofReplay()
        self._nonce_secret = (settings.dpop_nonce_secret.encode()
                              if settings.dpop_nonce_secret else None)
        self._required_claims = list(dict.fromkeys((*settings.required_claims, *ALWAYS_REQUIRED)))
        self._accepted_typ = _media_type(settings.required_typ)

    def validate(self, token: str) -> AccessToken:
        """The token's facts, or InvalidToken / ValidationUnavailable; every check, every time."""
        claims = self._verify_offline(token)
        if self._revocations is not None:
            revoked = self._revocations.reason(claims)
            if revoked:
                raise InvalidToken(revoked)
        access_token = self._access_token(claims)
        if self._introspector is not None:
            try:
                active = self._introspector.is_active(token)
            except FetchFailed as exc:
                log.warning("introspection unavailable: %s", exc)
                raise ValidationUnavailable() from exc
            if not active:
                raise InvalidToken("the access token is no longer active")
        return access_token

    def validate_presented(self, scheme: str, token: str, proofs: list[str], method: str,
                           uri: str) -> AccessToken:
        """A token as a request presents it (RFC 9449 section 7): ``DPoP`` with a proof of the
        key the token is bound to, for this method and URI, used once; ``Bearer`` only for a
        token that is not bound, and only where bearer tokens are allowed."""
        access_token = self.validate(token)
        cnf = access_token.claims.get("cnf")
        jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        if scheme == "bearer":
            if jkt is not None:
                raise InvalidToken("a DPoP-bound token must come with its proof (DPoP scheme)")
            if self.settings.dpop == "required":
                raise InvalidToken("only DPoP-bound tokens are accepted here")
            return access_token
        if self.settings.dpop == "off":
            raise InvalidToken("the DPoP scheme is not accepted here")
        if not isinstance(jkt, str):
            raise InvalidToken("the token is not DPoP-bound (no cnf.jkt)")
        now = time.time()
        try:
            proof = verify_proof(proofs, method=method, uri=uri, now=now, access_token=token,
                                 expected_jkt=jkt)
        except DpopError as exc:
            raise InvalidDpopProof(exc.description) from None
        if self._nonce_secret is not None and not nonce_is_current(self._nonce_secret,
                                                                   proof.nonce, now):
            raise UseDpopNonce(server_nonce(self._nonce_secret, now))
        if not self._replay.first_use(proof.jkt, proof.jti, PROOF_MAX_AGE + 10):
            raise InvalidDpopProof("this DPoP proof was used before")
        return access_token

    def _verify_offline(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt_errors.PyJWTError:
            raise InvalidToken("the access token is malformed") from None
        alg = header.get("alg")
        if alg not in self.settings.algorithms:
            raise InvalidToken("the access token signing algorithm is not allowed")
        if self._accepted_typ is not None and _media_type(header.get("typ")) != self._accepted_typ:
            raise InvalidToken("the token is not an access token (typ)")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the access token names no signing key (kid)")
        try:
            key = self._keys.key_for(kid)
        except UnknownKey:
            raise InvalidToken("the access token is signed with an unknown key") from None
        except KeysUnavailable as exc:
            raise ValidationUnavailable() from exc
        if key.algorithm_name != alg:
            raise InvalidToken("the access token signing algorithm is not allowed")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": self._required_claims, "enforce_minimum_key_length": True},
            )
        except jwt_errors.PyJWTError as exc:
            raise InvalidToken(_describe(exc)) from None

    def _access_token(self, claims: dict[str, Any]) -> AccessToken:
        sub = claims["sub"]
        client_id = claims.get("client_id")
        jti = claims.get("jti")
        if not isinstance(sub, str) or not sub:
            raise InvalidToken("the access token sub claim is not valid")
        if client_id is not None and not isinstance(client_id, str):
            raise InvalidToken("the access token client_id claim is not valid")
        aud = claims["aud"]
        actor = token_actor(claims.get("act"))
        required = self.settings.required_actor
        if required is not None and actor != required:
            raise InvalidToken("the access token was not obtained by the expected actor")
        return AccessToken(
            sub=sub,
            scopes=parse_scopes(claims.get("scope")),
            client_id=client_id,
            issuer=claims["iss"],
            audiences=(aud,) if isinstance(aud, str) else tuple(aud),
            expires_at=int(claims["exp"]),
            jti=jti if isinstance(jti, str) else None,
            claims=MappingProxyType(claims),
            actor=actor,
        )

    def _load_jwks(self) -> object:
        jwks_uri = self.settings.jwks_uri or self._discovery.metadata().jwks_uri
        return self._fetch(jwks_uri)

    def _introspection_endpoint_for(self, settings: IntrospectionSettings) -> Callable[[], str]:
        def endpoint() -> str:
            if settings.endpoint:
                return settings.endpoint
            discovered = self._discovery.metadata().introspection_endpoint
            if discovered is None:
                raise FetchFailed("the issuer publishes no introspection_endpoint")
            return discovered

        return endpoint

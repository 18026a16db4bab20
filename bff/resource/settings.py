"""Typed settings for token validation, checked when built: bad values stop a service at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bff.resource.errors import ConfigurationError

#: Public-key algorithms only: a symmetric (HS*) or ``none`` entry would let anyone who can read the
#: JWKS, or nobody at all, mint tokens.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)

#: RFC 9068 §2.2: the claims every JWT access token carries.
RFC9068_REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")


def _require_http_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an http(s) URL, got {value!r}")


@dataclass(frozen=True)
class ValidatorSettings:
    """What a resource server accepts: whose tokens, for which audience, signed how.

    ``jwks_uri`` left empty means: find it in ``<issuer>/.well-known/openid-configuration``.
    ``jwks_refetch_interval`` bounds how often an unknown ``kid`` may trigger a JWKS download, so
    a rotation is picked up within that time but a flood of made-up kids cannot hammer the issuer.
    """

    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    required_typ: str | None = "at+jwt"
    leeway: float = 30.0
    required_claims: tuple[str, ...] = RFC9068_REQUIRED_CLAIMS
    jwks_uri: str | None = None
    jwks_max_age: float = 300.0
    jwks_refetch_interval: float = 5.0
    http_timeout: float = 5.0
    required_actor: str | None = None
    """Accept only tokens obtained by token exchange by this client (RFC 8693 ``act.sub``)."""
    dpop: str = "allowed"
    """RFC 9449: ``allowed`` (bound tokens need their proof, bearer tokens pass), ``required``
    (bearer tokens are refused) or ``off`` (the DPoP scheme is refused). A DPoP-bound token sent
    as ``Bearer`` is refused in every mode (section 7.1)."""
    public_base_url: str | None = None
    """The scheme and host the callers use (``htu`` of their proofs) when a proxy in front
    changes what this service sees; the request's own URL otherwise."""
    dpop_nonce_secret: str | None = field(default=None, repr=False)
    """Set to require this server's nonce in proofs (section 9), derived from the secret."""

    def __post_init__(self) -> None:
        _require_http_url("issuer", self.issuer)
        if not self.audience:
            raise ConfigurationError("audience must name this API, e.g. 'demo-api'")
        if not self.algorithms:
            raise ConfigurationError("algorithms must list at least one algorithm")
        refused = [alg for alg in self.algorithms if alg not in ASYMMETRIC_ALGORITHMS]
        if refused:
            raise ConfigurationError(
                f"algorithms {refused} are refused: only public-key algorithms are accepted "
                f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        if not 0 <= self.leeway <= 300:
            raise ConfigurationError("leeway must be between 0 and 300 seconds")
        if self.jwks_uri is not None:
            _require_http_url("jwks_uri", self.jwks_uri)
        if self.jwks_max_age <= 0:
            raise ConfigurationError("jwks_max_age must be positive")
        if self.jwks_refetch_interval < 0:
            raise ConfigurationError("jwks_refetch_interval must not be negative")
        if self.http_timeout <= 0:
            raise ConfigurationError("http_timeout must be positive")
        if self.dpop not in ("off", "allowed", "required"):
            raise ConfigurationError("dpop must be off, allowed or required")
        if self.public_base_url is not None:
            _require_http_url("public_base_url", self.public_base_url)


@dataclass(frozen=True)
class IntrospectionSettings:
    """RFC 7662 introspection for endpoints that must see a revocation at once.

    ``endpoint`` left empty means: ``introspection_endpoint`` from the issuer's discovery document.
    ``cache_ttl`` is how long an ``active: true`` answer is reused: the window in which a revoked
    token is still accepted, traded against one introspection call per request.
    """

    client_id: str
    client_secret: str = field(repr=False)
    endpoint: str | None = None
    cache_ttl: float = 5.0
    timeout: float = 5.0
    max_cached: int = 10_000

    def __post_init__(self) -> None:
        if not self.client_id or not self.client_secret:
            raise ConfigurationError("introspection needs a client_id and a client_secret")
        if self.endpoint is not None:
            _require_http_url("introspection endpoint", self.endpoint)
        if not 0 <= self.cache_ttl <= 60:
            raise ConfigurationError("introspection cache_ttl must be between 0 and 60 seconds")
        if self.timeout <= 0:
            raise ConfigurationError("introspection timeout must be positive")
        if self.max_cached < 1:
            raise ConfigurationError("introspection max_cached must be at least 1")

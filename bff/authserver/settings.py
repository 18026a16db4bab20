"""Typed settings of the reference authorization server: a TOML file plus environment variables.

Everything is checked at start-up so a bad configuration stops the process with a message a
person can act on (which client, which key, what to do), never at the first request.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bff.authserver.passwords import is_password_hash

DEFAULT_CONFIG_PATH = "config/authserver.toml"
DEFAULT_ISSUER = "http://localhost:8001"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_KEY_DIR = "var/authserver/keys"
OIDC_SCOPES = ("openid", "profile", "email", "offline_access", "roles")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials", "password",
               "urn:ietf:params:oauth:grant-type:token-exchange")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
SigningAlg = Literal["RS256", "ES256"]


class SettingsError(ValueError):
    """The configuration is missing something or inconsistent; the message says what to fix."""


@dataclass(frozen=True)
class User:
    """A resource owner who can log in at the provider."""

    username: str
    password_hash: str = field(repr=False)
    name: str = ""
    email: str = ""
    scopes: tuple[str, ...] = ()
    sub: str = ""
    roles: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return self.sub or self.username

    def get_user_id(self) -> str:
        """Authlib's user protocol: the `sub` of every token issued for this user."""
        return self.subject


@dataclass(frozen=True)
class ClientConfig:
    """One registered OAuth client, as written in `[[clients]]`."""

    client_id: str
    client_secret_hash: str = field(repr=False)
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    backchannel_logout_uri: str = ""
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token")
    scopes: tuple[str, ...] = ("openid",)
    audience: str = ""
    trusted_first_party: bool = False
    introspection: bool = False
    token_endpoint_auth_methods: tuple[str, ...] = SECRET_METHODS
    require_pushed_authorization_requests: bool = False
    """RFC 9126 section 6: /authorize accepts this client's requests only when pushed."""
    jwks: tuple[dict[str, Any], ...] = ()
    """Public keys for ``private_key_jwt`` (RFC 7523), as `jwks = { keys = [...] }`."""
    resources: tuple[str, ...] = ()
    """Resource indicators (RFC 8707) the client may ask tokens for; each token's `aud`."""
    token_exchange_audiences: tuple[str, ...] = ()
    """The audiences this client may exchange a user's token for (RFC 8693 policy)."""


@dataclass(frozen=True)
class LoginSettings:
    """Throttling of failed logins, per user and per client address, inside a sliding window."""

    max_failures_per_user: int = 5
    max_failures_per_address: int = 20
    failure_window: int = 900


@dataclass(frozen=True)
class AuthServerSettings:
    issuer: str
    redis_url: str = DEFAULT_REDIS_URL
    key_dir: str = DEFAULT_KEY_DIR
    signing_alg: SigningAlg = "RS256"
    key_publish_ahead: int = 300
    access_token_lifetime: int = 900
    id_token_lifetime: int = 3600
    refresh_token_lifetime: int = 30 * 24 * 3600
    code_lifetime: int = 60
    session_lifetime: int = 8 * 3600
    logout_token_lifetime: int = 120
    backchannel_logout_timeout: float = 5.0
    require_pushed_authorization_requests: bool = False
    """Every client must push its authorization requests (RFC 9126 section 5)."""
    dpop_nonce: bool = False
    """Require the server's nonce in DPoP proofs at the token endpoint (RFC 9449 section 8)."""
    users: tuple[User, ...] = ()
    clients: tuple[ClientConfig, ...] = ()
    login: LoginSettings = LoginSettings()

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def session_cookie_name(self) -> str:
        """``__Host-`` over https: no sibling host or narrower path can set the provider session."""
        return "__Host-bff_as_session" if self.secure_cookies else "bff_as_session"

    def user(self, username: str) -> User | None:
        return next((u for u in self.users if u.username == username), None)

    def user_by_subject(self, sub: str) -> User | None:
        return next((u for u in self.users if u.subject == sub), None)

    def client(self, client_id: str) -> ClientConfig | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    @property
    def scopes_supported(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for client in self.clients:
            seen.update(dict.fromkeys(client.scopes))
        return tuple(seen)

    @property
    def max_signed_token_lifetime(self) -> int:
        """How long anything this server signs stays valid: a retired key must outlive it."""
        return max(self.access_token_lifetime, self.id_token_lifetime, self.logout_token_lifetime)


def load_settings(path: str | None = None, environ: Mapping[str, str] | None = None
                  ) -> AuthServerSettings:
    """Read the TOML file (default `config/authserver.toml`) and apply environment overrides."""
    env = os.environ if environ is None else environ
    config_path = Path(path or DEFAULT_CONFIG_PATH)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"config file {config_path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{config_path} is not valid TOML: {exc}") from None
    return settings_from_mapping(raw, env, source=str(config_path))


def settings_from_mapping(raw: Mapping[str, Any], env: Mapping[str, str],
                          source: str = "config") -> AuthServerSettings:
    issuer = env.get("BFF_AUTHSERVER_ISSUER") or raw.get("issuer")
    if not issuer:
        raise SettingsError(f"{source}: `issuer` is missing (or set BFF_AUTHSERVER_ISSUER)")
    issuer = _check_issuer(str(issuer), source)
    redis_url = (env.get("BFF_AUTHSERVER_REDIS_URL") or env.get("BFF_REDIS_URL")
                 or raw.get("redis_url") or DEFAULT_REDIS_URL)
    key_dir = env.get("BFF_AUTHSERVER_KEY_DIR") or raw.get("key_dir") or DEFAULT_KEY_DIR
    lifetime = env.get("BFF_AUTHSERVER_ACCESS_TOKEN_LIFETIME") or raw.get(
        "access_token_lifetime", 900)
    signing_alg = raw.get("signing_alg", "RS256")
    if signing_alg not in ("RS256", "ES256"):
        raise SettingsError(f"{source}: signing_alg must be RS256 or ES256, not {signing_alg!r}")
    users = tuple(_user(u, i, source) for i, u in enumerate(raw.get("users", [])))
    _check_unique([u.username for u in users], "username", source)
    _check_unique([u.subject for u in users], "sub", source)
    clients = tuple(_client(c, i, source) for i, c in enumerate(raw.get("clients", [])))
    _check_unique([c.client_id for c in clients], "client_id", source)
    login_raw = raw.get("login", {})
    _check_keys(login_raw, LoginSettings, f"{source} [login]")
    login = LoginSettings(**{k: _positive_int(v, f"{source} [login] {k}")
                             for k, v in login_raw.items()})
    known = {f for f in AuthServerSettings.__dataclass_fields__} | {"users", "clients", "login"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"{source}: unknown setting(s) {', '.join(unknown)}")
    return AuthServerSettings(
        issuer=issuer,
        redis_url=str(redis_url),
        key_dir=str(key_dir),
        signing_alg=signing_alg,
        key_publish_ahead=_non_negative_int(
            env.get("BFF_AUTHSERVER_KEY_PUBLISH_AHEAD") or raw.get("key_publish_ahead", 300),
            "key_publish_ahead"),
        access_token_lifetime=_positive_int(lifetime, "access_token_lifetime"),
        id_token_lifetime=_positive_int(raw.get("id_token_lifetime", 3600), "id_token_lifetime"),
        refresh_token_lifetime=_positive_int(raw.get("refresh_token_lifetime", 30 * 24 * 3600),
                                             "refresh_token_lifetime"),
        code_lifetime=_positive_int(raw.get("code_lifetime", 60), "code_lifetime"),
        session_lifetime=_positive_int(raw.get("session_lifetime", 8 * 3600), "session_lifetime"),
        logout_token_lifetime=_positive_int(raw.get("logout_token_lifetime", 120),
                                            "logout_token_lifetime"),
        backchannel_logout_timeout=float(raw.get("backchannel_logout_timeout", 5.0)),
        dpop_nonce=_boolean(raw.get("dpop_nonce", False), "dpop_nonce"),
        require_pushed_authorization_requests=_boolean(
            raw.get("require_pushed_authorization_requests", False),
            "require_pushed_authorization_requests"),
        users=users,
        clients=clients,
        login=login,
    )


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise SettingsError(f"{name} must be true or false, got {value!r}")
    return value


def _non_negative_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise SettingsError(f"{name} must be a whole number of seconds, 0 or more; got {value!r}")
    return number


def _check_issuer(issuer: str, source: str) -> str:
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{source}: issuer {issuer!r} must be an http(s) URL")
    if parts.query or parts.fragment:
        raise SettingsError(f"{source}: issuer {issuer!r} must not have a query or fragment")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise SettingsError(f"{source}: issuer {issuer!r} must use https outside localhost")
    return issuer.rstrip("/")


def _user(raw: Mapping[str, Any], index: int, source: str) -> User:
    where = f"{source} [[users]] #{index + 1}"
    _check_keys(raw, User, where)
    username = raw.get("username")
    if not username:
        raise SettingsError(f"{where}: `username` is missing")
    where = f"{source} user {username!r}"
    if "password" in raw:
        raise SettingsError(f"{where}: plaintext `password` is not accepted; store "
                            "`password_hash` (python -m bff.authserver.passwords)")
    password_hash = raw.get("password_hash", "")
    if not is_password_hash(password_hash):
        raise SettingsError(f"{where}: `password_hash` is missing or not a hash made by "
                            "python -m bff.authserver.passwords")
    return User(username=str(username), password_hash=password_hash,
                name=str(raw.get("name", "")), email=str(raw.get("email", "")),
                scopes=_strings(raw.get("scopes", []), f"{where} scopes"),
                sub=str(raw.get("sub", "")),
                roles=_strings(raw.get("roles", []), f"{where} roles"))


def _client(raw: Mapping[str, Any], index: int, source: str) -> ClientConfig:
    where = f"{source} [[clients]] #{index + 1}"
    _check_keys(raw, ClientConfig, where)
    client_id = raw.get("client_id")
    if not client_id:
        raise SettingsError(f"{where}: `client_id` is missing")
    where = f"{source} client {client_id!r}"
    if "client_secret" in raw:
        raise SettingsError(f"{where}: plaintext `client_secret` is not accepted; store "
                            "`client_secret_hash` (python -m bff.authserver.passwords)")
    methods = _strings(raw.get("token_endpoint_auth_methods", list(SECRET_METHODS)), where)
    for method in methods:
        if method not in AUTH_METHODS:
            raise SettingsError(f"{where}: unsupported token endpoint auth method {method!r}")
    jwks = _client_jwks(raw.get("jwks"), where)
    secret_hash = raw.get("client_secret_hash", "")
    if "private_key_jwt" in methods:
        if len(methods) != 1 or secret_hash or not jwks:
            raise SettingsError(f"{where}: a private_key_jwt client has `jwks`, no secret, and "
                                "token_endpoint_auth_methods = [\"private_key_jwt\"] alone")
    elif not is_password_hash(secret_hash):
        raise SettingsError(f"{where}: `client_secret_hash` is missing or not a hash made by "
                            "python -m bff.authserver.passwords")
    grant_types = _strings(raw.get("grant_types", ["authorization_code", "refresh_token"]),
                           f"{where} grant_types")
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise SettingsError(f"{where}: unsupported grant type {grant!r} "
                                f"(supported: {', '.join(GRANT_TYPES)})")
    trusted = bool(raw.get("trusted_first_party", False))
    if "password" in grant_types and not trusted:
        raise SettingsError(f"{where}: the password grant needs `trusted_first_party = true`")
    redirect_uris = _strings(raw.get("redirect_uris", []), f"{where} redirect_uris")
    if "authorization_code" in grant_types and not redirect_uris:
        raise SettingsError(f"{where}: `redirect_uris` is empty; the authorization_code grant "
                            "needs at least one")
    for uri in redirect_uris + _strings(raw.get("post_logout_redirect_uris", []), where):
        _check_client_uri(uri, where)
    backchannel = str(raw.get("backchannel_logout_uri", ""))
    if backchannel:
        _check_client_uri(backchannel, where)
    exchange = raw.get("token_exchange", {})
    if not isinstance(exchange, Mapping) or set(exchange) - {"audiences"}:
        raise SettingsError(f"{where}: token_exchange must be a table with `audiences`")
    exchange_audiences = _strings(exchange.get("audiences", []), f"{where} token_exchange")
    resources = _strings(raw.get("resources", []), f"{where} resources")
    for resource in resources:
        parts = urlsplit(resource)
        if not parts.scheme or not (parts.netloc or parts.path) or "#" in resource:
            raise SettingsError(f"{where}: resource {resource!r} must be an absolute URI "
                                "without a fragment (RFC 8707)")
    return ClientConfig(
        client_id=str(client_id),
        client_secret_hash=secret_hash,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=_strings(raw.get("post_logout_redirect_uris", []), where),
        backchannel_logout_uri=backchannel,
        grant_types=grant_types,
        scopes=_strings(raw.get("scopes", ["openid"]), f"{where} scopes"),
        audience=str(raw.get("audience", "")),
        trusted_first_party=trusted,
        introspection=bool(raw.get("introspection", False)),
        token_endpoint_auth_methods=methods,
        jwks=jwks,
        require_pushed_authorization_requests=_boolean(
            raw.get("require_pushed_authorization_requests", False),
            f"{where} require_pushed_authorization_requests"),
        resources=resources,
        token_exchange_audiences=exchange_audiences,
    )


def _client_jwks(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    """Public signing keys only: a private member or a symmetric key is refused."""
    if raw is None:
        return ()
    keys = raw.get("keys") if isinstance(raw, Mapping) else None
    if not isinstance(keys, list) or not all(isinstance(k, Mapping) for k in keys):
        raise SettingsError(f"{where}: jwks must be a table with a list of `keys`")
    for key in keys:
        if key.get("kty") not in ("EC", "RSA") or {"d", "p", "q", "k"} & set(key):
            raise SettingsError(f"{where}: jwks holds public EC or RSA keys only")
    return tuple(dict(k) for k in keys)


def _check_client_uri(uri: str, where: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise SettingsError(f"{where}: {uri!r} must be an absolute http(s) URL without fragment")


def _check_keys(raw: Mapping[str, Any], cls: type, where: str) -> None:
    written_otherwise = {"password", "client_secret", "token_exchange"}
    unknown = sorted(set(raw) - set(cls.__dataclass_fields__) - written_otherwise)
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _check_unique(values: list[str], what: str, source: str) -> None:
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
        raise SettingsError(f"{source}: duplicate {what} {', '.join(duplicates)}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SettingsError(f"{where}: expected a list of strings")
    return tuple(value)


def _positive_int(value: Any, where: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{where}: expected a whole number of seconds, got {value!r}") from None
    if number <= 0:
        raise SettingsError(f"{where}: must be positive, got {number}")
    return number

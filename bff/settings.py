"""Typed BFF settings: a TOML file plus ``BFF_*`` environment variables, checked at start-up.

A bad setting stops the process with a message a person can act on, never at the first request.
Environment variables win over the file, so a TOML holding only ``[[routes]]`` plus the variables
is a complete configuration for any OIDC provider.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from bff.sansio.redis_url import RedisUrlError, parse_redis_url
from bff.signing_keys import SigningKey, SigningKeyError, load_signing_key, load_signing_keys

log = logging.getLogger(__name__)

TokenType = Literal["user", "client", "user-or-client", "user-or-none", "none"]
TOKEN_TYPES: tuple[str, ...] = ("user", "client", "user-or-client", "user-or-none", "none")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_USER_CLAIMS = (
    "sub", "name", "given_name", "family_name", "preferred_username", "email",
    "email_verified", "picture", "locale",
)
KEY_BYTES = 32
ClientAuth = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
CLIENT_AUTH_METHODS: tuple[str, ...] = ("client_secret_basic", "client_secret_post",
                                        "private_key_jwt")
ParMode = Literal["auto", "required", "off"]
DpopMode = Literal["off", "auto", "required"]
DPOP_MODES: tuple[str, ...] = ("off", "auto", "required")
PAR_MODES: tuple[str, ...] = ("auto", "required", "off")
UserinfoMode = Literal["auto", "always", "never"]
USERINFO_MODES: tuple[str, ...] = ("auto", "always", "never")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
CspAdditions = tuple[tuple[str, tuple[str, ...]], ...]
CSP_DIRECTIVE = re.compile(r"[a-z][a-z-]*")
CSP_SOURCE = re.compile(r"[!-+\--:<-~]+")  # printable ASCII but space, ',' and ';'


class SettingsError(ValueError):
    """A setting is missing or inconsistent; the message says which and how to fix it."""


@dataclass(frozen=True)
class SecretKey:
    """An AES-256 key and the short id stored beside everything it encrypts."""

    kid: str
    key: bytes = field(repr=False)


def setting(default: Any = MISSING, *, secret: bool = False, env: str | None = None,
            doc: str) -> Any:
    """A settings field with its whole row of the settings table: the default (written only
    here), the environment variable that overrides it, and what it means (docs/settings.md is
    rendered from these by ``python -m bff.settings_doc``). A secret is left out of ``repr``."""
    metadata = {"env": env, "doc": doc}
    if default is MISSING:
        return field(repr=not secret, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True)
class Route:
    """One ``[[routes]]`` entry: what the SPA calls under /api and where it goes."""

    prefix: str = setting(
        doc='What the SPA calls: a path under `/api/`; the longest matching prefix wins.')
    upstream: str = setting(
        doc='Where it goes; the rest of the path is appended.')
    methods: tuple[str, ...] = setting(("GET",),
        doc='Allowed HTTP methods; others get 405.')
    token: TokenType = setting("user",
        doc='`user`, `client` (client credentials), `user-or-client`, `user-or-none` or `none`.')
    scopes: tuple[str, ...] = setting((),
        doc='Scopes the session must hold, else 403 `insufficient_scope`.')
    connect_timeout: float = setting(5.0,
        doc='Seconds to connect to the upstream.')
    read_timeout: float = setting(30.0,
        doc="Seconds to wait for the upstream's answer.")
    max_body_bytes: int = setting(10 * 1024 * 1024,
        doc='Largest request body passed on.')
    headers: tuple[tuple[str, str], ...] = setting((),
        doc='A table of extra headers sent to the upstream.')
    claims: tuple[tuple[str, tuple[str, ...]], ...] = setting(
        (), doc='Claims the session must hold, a table of claim = [accepted values] '
        '(`{ roles = ["admin"] }`: the claim, a string or a list, contains one of them; every '
        'key must hold), else 403 `insufficient_claims`. Each claim must be in `user_claims`.')
    max_age: int | None = setting(
        None, doc='Seconds since the login\'s authentication (`auth_time`) after which a new '
        'login is required: 401 `reauthentication_required` with a `login_url`.')
    request_headers: tuple[str, ...] = setting((),
        doc='Browser request headers this upstream needs beyond the built-in allow-list '
        '(docs/routes.md), e.g. `["X-Tenant"]`.')
    websocket: bool = setting(False,
        doc='WebSocket upgrades allowed through forward-auth (docs/forward-auth.md): the edge '
        'proxies the upgrade after `/bff/authz` checked the session and the exact `Origin`.')
    resource: str | None = setting(
        None, doc='A resource indicator (RFC 8707, an absolute URI): the upstream then gets an '
        'access token whose audience is that resource alone, obtained with the refresh token '
        '(user tokens) or client credentials (`client`) and kept per resource.')


@dataclass(frozen=True)
class Settings:
    """Everything one BFF process is configured with, validated once at start-up (``bff
    check-config`` builds the same thing), so a bad value stops the process with a message
    instead of failing at the first request. Frozen: nothing changes it while serving."""

    base_url: str = setting(env="BFF_BASE_URL",
        doc='The public origin of the BFF and the SPA. The redirect URI is '
        '`<base_url>/bff/callback`, never taken from the Host header; plain http only on '
        'localhost.')
    issuer: str = setting(env="BFF_ISSUER",
        doc="The OIDC provider's issuer; its endpoints come from its discovery document.")
    client_id: str = setting(env="BFF_CLIENT_ID",
        doc="The BFF's client id at the provider (a confidential client).")
    client_secret: str = setting(secret=True, env="BFF_CLIENT_SECRET",
        doc="The BFF's client secret at the provider; prefer the variable to the file.")
    secret_keys: tuple[SecretKey, ...] = setting(secret=True, env="BFF_SECRET_KEYS",
        doc='Comma-separated base64url 32-byte keys that encrypt tokens at rest: the first '
        'encrypts, all decrypt (rotation). `bff generate-key` prints one.')
    scopes: tuple[str, ...] = setting(("openid", "profile", "email", "offline_access"),
                                      env="BFF_SCOPES",
        doc='Scopes requested at login; must include `openid` (and `offline_access` for refresh '
        'tokens).')
    redis_url: str = setting("redis://127.0.0.1:6379/0", env="BFF_REDIS_URL",
        doc='The session store: `redis://`, `rediss://`, `unix://`, '
        '`redis+sentinel://host:port[,host:port]/master[/db]` or `redis+cluster://host:port`.')
    refresh_skew: int = setting(60, env="BFF_REFRESH_SKEW",
        doc='Seconds before expiry at which an access token is refreshed (at most half its '
        'lifetime).')
    routes: tuple[Route, ...] = setting((),
        doc='The `[[routes]]` the SPA calls under `/api` (TOML only; keys below).')
    cookie_samesite: Literal["Lax", "Strict"] = setting("Lax", env="BFF_COOKIE_SAMESITE",
        doc='`Lax` or `Strict` for the session cookie; `None` is refused.')
    session_idle_timeout: int = setting(3600, env="BFF_SESSION_IDLE_TIMEOUT",
        doc='Seconds of inactivity after which a session ends.')
    session_lifetime: int = setting(12 * 3600, env="BFF_SESSION_LIFETIME",
        doc='Seconds after login at which a session ends, however active.')
    login_timeout: int = setting(600,
        doc='Seconds a started login may take before its `state` expires.')
    user_claims: tuple[str, ...] = setting(DEFAULT_USER_CLAIMS,
        doc='ID-token claims that `/bff/user` shows the SPA.')
    frontend_dir: str | None = setting(None, env="BFF_FRONTEND_DIR",
        doc='A built SPA to serve at `/`: `index.html` for client-side routes, long caching for '
        "hashed assets. A relative path starts at the config file's folder (its parent when "
        'that folder is `config/`).')
    post_logout_redirect_path: str = setting("/",
        doc="Path on the BFF's origin the provider returns to after logout.")
    provider_timeout: float = setting(10.0,
        doc='Seconds to wait for the provider (discovery, token and revocation calls).')
    id_token_algorithms: tuple[str, ...] = setting(("RS256", "ES256", "PS256"),
        doc='Signature algorithms accepted on ID tokens (asymmetric only).')
    trusted_proxies: tuple[IPNetwork, ...] = setting((), env="BFF_TRUSTED_PROXIES",
        doc='IPs or CIDR ranges of reverse proxies in front of the BFF whose `X-Forwarded-*` and '
        '`Forwarded` headers count.')
    redis_wait_replicas: int = setting(0, env="BFF_REDIS_WAIT_REPLICAS",
        doc='Replicas that must acknowledge a session write with rotated tokens before the '
        'response '
        '(Redis `WAIT`); 0 does not wait.')
    redis_wait_timeout_ms: int = setting(500,
        doc='How long that wait may take, in milliseconds.')
    redis_max_connections: int = setting(64, env="BFF_REDIS_MAX_CONNECTIONS",
        doc="Connections in each process's Redis pool.")
    redis_timeout: float = setting(2.0, env="BFF_REDIS_TIMEOUT",
        doc='Seconds a Redis command or connect may take before the request gets 503.')
    login_rate_limit: int = setting(60, env="BFF_LOGIN_RATE_LIMIT",
        doc='`/bff/login` and `/bff/callback` requests per minute per client address; 0 is no '
        'limit.')
    max_pending_logins: int = setting(10, env="BFF_MAX_PENDING_LOGINS",
        doc='Logins one browser may have in flight at once; 0 is no limit.')
    max_header_bytes: int = setting(16 * 1024,
        doc='Largest request header block accepted, in bytes (at least 1024).')
    log_format: Literal["text", "json"] = setting("text", env="BFF_LOG_FORMAT",
        doc='`text` or `json` log lines.')
    frontend_dev_server: str | None = setting(None, env="BFF_FRONTEND_DEV_SERVER",
        doc='Development: the origin of a running SPA dev server (Vite: `http://localhost:5173`) '
        'that the BFF proxies instead of serving `frontend_dir`, so hot reload keeps working.')
    content_security_policy_extra: CspAdditions = setting(
        (), env="BFF_CONTENT_SECURITY_POLICY_EXTRA",
        doc="Sources added to the SPA's strict Content-Security-Policy: a TOML table (`img-src = "
        '["https://cdn.example"]`) or CSP syntax (`img-src https://cdn.example; connect-src '
        'wss://push.example`).')
    client_auth: ClientAuth | None = setting(None, env="BFF_CLIENT_AUTH",
        doc='How the BFF authenticates at the token, PAR and revocation endpoints: '
        '`client_secret_basic`, `client_secret_post` or `private_key_jwt` (RFC 7523, with '
        "`client_key`); unset, the first of these the provider's metadata lists that the BFF "
        'is configured for (`client_secret_basic` when it lists none).')
    client_key: SigningKey | None = setting(None, secret=True, env="BFF_CLIENT_KEY",
        doc='The private key for `private_key_jwt`: a private JWK or PEM, EC P-256 or RSA of '
        '2048 bits or more (`bff generate-key --client` makes one and prints the public JWK '
        'to register). Its `kid`: the JWK\'s, else `client_key_id`, else its RFC 7638 '
        'thumbprint.')
    client_key_id: str | None = setting(None, env="BFF_CLIENT_KEY_ID",
        doc='The `kid` the provider knows the client key by, when the key itself names none.')
    dpop: DpopMode = setting("off", env="BFF_DPOP",
        doc='Sender-constrained tokens (DPoP, RFC 9449): `off`, `auto` (when the provider '
        'advertises `dpop_signing_alg_values_supported`, else bearer tokens) or `required` '
        '(refuse a provider without DPoP). Upstreams then receive `Authorization: DPoP` with a '
        'fresh proof per request, so they must verify DPoP.')
    dpop_keys: tuple[SigningKey, ...] = setting((), secret=True, env="BFF_DPOP_KEYS",
        doc='The DPoP private keys, comma-separated private JWKs or PEMs (EC P-256 or RSA of '
        '2048 bits or more): the first signs new tokens\' proofs; a session keeps using the key '
        'its tokens are bound to while it is listed. Every instance needs the same keys. '
        '`bff generate-key --dpop` makes one.')
    par: ParMode = setting("auto", env="BFF_PAR",
        doc='Pushed authorization requests (RFC 9126): `auto` (when the provider offers a '
        '`pushed_authorization_request_endpoint`, and always when it requires them), '
        '`required` (refuse to start without one) or `off`.')
    userinfo: UserinfoMode = setting("auto", env="BFF_USERINFO",
        doc='`auto` (call the userinfo endpoint at login when the ID token lacks the claims a '
        'requested scope promises), `always` or `never`.')
    revocation_endpoint: str | None = setting(None, env="BFF_REVOCATION_ENDPOINT",
        doc="The provider's RFC 7009 revocation endpoint, when neither its OIDC discovery nor its "
        'RFC 8414 metadata names one.')
    admin_token_sha256: str | None = setting(
        None, secret=True, env="BFF_ADMIN_TOKEN_SHA256",
        doc='Turns the admin API on: the SHA-256 (hex) of its bearer token, as '
        '`bff generate-admin-token` prints it. Unset, there is no admin API.')
    admin_path: str = setting(
        "/bff/admin", env="BFF_ADMIN_PATH",
        doc='Where the admin API listens on the BFF\'s port; keep it off the public edge.')
    userinfo_endpoint: str | None = setting(None, env="BFF_USERINFO_ENDPOINT",
        doc="The provider's userinfo endpoint, when its discovery names none.")

    @property
    def route_resources(self) -> tuple[str, ...]:
        """The resource indicators routes name for user tokens, asked for at login."""
        named = (r.resource for r in self.routes if r.resource and r.token != "client")
        return tuple(dict.fromkeys(named))

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def cookie_name(self) -> str:
        """``__Host-`` binds the cookie to this exact origin; browsers accept it only over https."""
        return "__Host-bff" if self.is_https else "bff"

    @property
    def binding_cookie_name(self) -> str:
        """The login binding: ``__Host-`` too, so no sibling host or narrower path can plant it."""
        return "__Host-bff_login" if self.is_https else "bff_login"

    @property
    def redirect_uri(self) -> str:
        """Derived from the configured origin, never from the Host header."""
        return f"{self.base_url}/bff/callback"

    @property
    def origin(self) -> str:
        return self.base_url


# The settings table's other views, all derived from the fields above.
ENV_KEYS = {f.metadata["env"]: f.name for f in fields(Settings) if f.metadata.get("env")}
SETTING_DESCRIPTIONS = {f.name: f.metadata["doc"] for f in fields(Settings)}
ROUTE_DESCRIPTIONS = {f.name: f.metadata["doc"] for f in fields(Route)}
DEFAULTS = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}
ROUTE_DEFAULTS = {f.name: f.default for f in fields(Route) if f.default is not MISSING}


def decode_secret_key(text: str) -> SecretKey:
    """A key is 32 random bytes, base64url-encoded (``bff generate-key`` prints one)."""
    stripped = text.strip()
    try:
        raw = base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SettingsError(
            "BFF_SECRET_KEYS: a key is not valid base64url; generate one with `bff generate-key`"
        ) from exc
    if len(raw) != KEY_BYTES:
        raise SettingsError(
            f"BFF_SECRET_KEYS: each key must be {KEY_BYTES} random bytes (base64url), "
            f"got {len(raw)}; generate one with `bff generate-key`"
        )
    return SecretKey(kid=hashlib.sha256(raw).hexdigest()[:8], key=raw)


def generate_secret_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


def _words(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part for part in value.replace(",", " ").split() if part)
    if isinstance(value, list | tuple):
        return tuple(str(part) for part in value)
    raise SettingsError(f"expected a list or a space-separated string, got {value!r}")


def _origin(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an absolute http(s) URL, got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(f"{name} must be an origin without path, query or fragment: {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def parse_networks(value: Any) -> tuple[IPNetwork, ...]:
    """Addresses of reverse proxies whose ``X-Forwarded-*`` and ``Forwarded`` headers count."""
    try:
        return tuple(ipaddress.ip_network(part, strict=False) for part in _words(value))
    except ValueError as exc:
        raise SettingsError(f"trusted_proxies: {exc} (give IP addresses or CIDR ranges)") from exc


def parse_csp_additions(value: Any) -> CspAdditions:
    """Sources the SPA needs beyond the strict default Content-Security-Policy, per directive.

    TOML gives a table (``img-src = ["https://cdn.example"]``), the variable gives CSP syntax
    (``img-src https://cdn.example; connect-src wss://push.example``). A source may not hold
    ``;`` or ``,``, so an addition cannot smuggle in a directive or a second policy.
    """
    if not value:
        return ()
    if isinstance(value, str):
        pairs = [(words[0], words[1:]) for words in (part.split() for part in value.split(";"))
                 if words]
    elif isinstance(value, Mapping):
        pairs = [(str(name), sources.split() if isinstance(sources, str) else list(sources))
                 for name, sources in value.items()]
    else:
        raise SettingsError("content_security_policy_extra must be a table of directive = "
                            "[sources] or a string like 'img-src https://cdn.example'")
    merged: dict[str, list[str]] = {}
    for name, sources in pairs:
        directive = name.strip().lower()
        if not CSP_DIRECTIVE.fullmatch(directive):
            raise SettingsError(f"content_security_policy_extra: {name!r} is not a directive name")
        bad = [s for s in sources if not isinstance(s, str) or not CSP_SOURCE.fullmatch(s)]
        if bad or not sources:
            raise SettingsError(f"content_security_policy_extra: {directive} needs sources "
                                f"without spaces, ',' or ';' (got {sources!r})")
        known = merged.setdefault(directive, [])
        known.extend(s for s in sources if s not in known)
    return tuple((directive, tuple(sources)) for directive, sources in merged.items())


def parse_route(raw: Mapping[str, Any], index: int) -> Route:
    where = f"[[routes]] #{index + 1} ({raw.get('prefix', 'no prefix')})"
    unknown = set(raw) - {f.name for f in fields(Route)}
    given = {**ROUTE_DEFAULTS, **raw}
    if unknown:
        raise SettingsError(f"{where}: unknown keys {sorted(unknown)}")
    prefix = str(raw.get("prefix", "")).rstrip("/")
    if not prefix.startswith("/api/") or "//" in prefix or ".." in prefix:
        raise SettingsError(f"{where}: prefix must start with /api/ and be clean: {prefix!r}")
    upstream = str(raw.get("upstream", ""))
    parts = urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise SettingsError(f"{where}: upstream must be an http(s) URL without query: {upstream!r}")
    methods = tuple(m.upper() for m in _words(given["methods"]))
    bad = [m for m in methods if m not in HTTP_METHODS]
    if bad or not methods:
        raise SettingsError(f"{where}: methods must be among {HTTP_METHODS}, got {methods}")
    token = str(given["token"])
    if token not in TOKEN_TYPES:
        raise SettingsError(f"{where}: token must be one of {TOKEN_TYPES}, got {token!r}")
    if token == "none" and given["resource"] is not None:
        raise SettingsError(f"{where}: resource needs a token; this route has token = \"none\"")
    headers = raw.get("headers", {})
    if not isinstance(headers, Mapping):
        raise SettingsError(f"{where}: headers must be a table of name = value")
    return Route(
        prefix=prefix,
        upstream=upstream.rstrip("/"),
        methods=methods,
        token=token,  # type: ignore[arg-type]
        scopes=_words(given["scopes"]),
        connect_timeout=float(given["connect_timeout"]),
        read_timeout=float(given["read_timeout"]),
        max_body_bytes=int(given["max_body_bytes"]),
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        request_headers=_words(given["request_headers"]),
        claims=_claim_rules(given["claims"], where),
        max_age=_max_age(given["max_age"], where),
        resource=_resource(given["resource"], where),
        websocket=_flag(given["websocket"], where, "websocket"),
    )


def _flag(raw: Any, where: str, key: str) -> bool:
    if not isinstance(raw, bool):
        raise SettingsError(f"{where}: {key} must be true or false, got {raw!r}")
    return raw


def _resource(raw: Any, where: str) -> str | None:
    """RFC 8707 section 2: an absolute URI without a fragment."""
    if raw is None:
        return None
    parts = urlsplit(raw) if isinstance(raw, str) else None
    if (parts is None or not parts.scheme or not (parts.netloc or parts.path)
            or "#" in raw or any(c.isspace() for c in raw)):
        raise SettingsError(f"{where}: resource must be an absolute URI without a fragment "
                            f"(RFC 8707), got {raw!r}")
    return raw


def _claim_rules(raw: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(raw, Mapping | tuple):
        raise SettingsError(f"{where}: claims must be a table of claim = [accepted values]")
    items = raw.items() if isinstance(raw, Mapping) else raw
    rules = []
    for name, accepted in items:
        values = _words([accepted] if isinstance(accepted, str) else accepted)
        if not values or not all(values):
            raise SettingsError(f"{where}: claims.{name} needs at least one accepted value")
        rules.append((str(name), values))
    return tuple(rules)


def _max_age(raw: Any, where: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
        raise SettingsError(f"{where}: max_age must be a positive whole number of seconds, "
                            f"got {raw!r}")
    return raw





def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (or ``BFF_CONFIG``), overlay ``BFF_*`` variables, validate everything."""
    env = os.environ if environ is None else environ
    path = path or env.get("BFF_CONFIG")
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path:
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text())
        except FileNotFoundError as exc:
            raise SettingsError(f"config file not found: {file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {file} is not valid TOML: {exc}") from exc
        base_dir = file.resolve().parent.parent if file.parent.name == "config" else file.parent
    for env_name, key in ENV_KEYS.items():
        if env.get(env_name):
            raw[key] = env[env_name]
    return build_settings(raw, base_dir)


def build_settings(raw: Mapping[str, Any], base_dir: Path | None = None) -> Settings:
    known = {f.name for f in fields(Settings)}
    value = {**DEFAULTS, **raw}
    unknown = set(raw) - known
    if unknown:
        raise SettingsError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
    needed = ("base_url", "issuer", "client_id",
              *(() if raw.get("client_key") else ("client_secret",)))
    missing = [name for name, key in ENV_KEYS.items() if key in needed and not raw.get(key)]
    if missing:
        raise SettingsError(f"missing settings: {', '.join(missing)} (or their TOML keys)")
    keys_raw = raw.get("secret_keys")
    if not keys_raw:
        raise SettingsError(
            "BFF_SECRET_KEYS is missing: tokens are encrypted at rest with it. "
            "Generate a key with `bff generate-key` and set BFF_SECRET_KEYS=<key>"
        )
    keys = tuple(decode_secret_key(k) for k in _words(keys_raw))
    samesite = str(value["cookie_samesite"]).capitalize()
    if samesite == "None":
        raise SettingsError(
            "cookie_samesite=None would send the session cookie on cross-site requests; "
            "use Lax (default) or Strict"
        )
    if samesite not in ("Lax", "Strict"):
        raise SettingsError(f"cookie_samesite must be Lax or Strict, got {samesite!r}")
    frontend_dir = raw.get("frontend_dir")
    if frontend_dir:
        resolved = Path(frontend_dir)
        if not resolved.is_absolute() and base_dir is not None:
            resolved = base_dir / resolved
        if not resolved.is_dir():
            raise SettingsError(f"frontend_dir {str(resolved)!r} is not a directory")
        frontend_dir = str(resolved)
    routes = tuple(parse_route(r, i) for i, r in enumerate(value["routes"]))
    from bff.sansio.proxy_rules import check_route  # it imports this module's Route

    for route in routes:
        check_route(route)
        unkept = [name for name, _ in route.claims if name not in _words(value["user_claims"])]
        if unkept:
            raise SettingsError(
                f"[[routes]] {route.prefix}: claims names {', '.join(unkept)}, which the "
                "session does not keep; add it to user_claims")
    prefixes = [r.prefix for r in routes]
    if len(set(prefixes)) != len(prefixes):
        raise SettingsError(f"two [[routes]] share a prefix: {prefixes}")
    scopes = _words(value["scopes"])
    if "openid" not in scopes:
        raise SettingsError("scopes must include 'openid' (the BFF logs users in with OIDC)")
    settings = Settings(
        base_url=_origin("BFF_BASE_URL", str(raw["base_url"])),
        issuer=str(raw["issuer"]).rstrip("/"),
        client_id=str(raw["client_id"]),
        client_secret=str(raw.get("client_secret") or ""),
        secret_keys=keys,
        scopes=scopes,
        redis_url=str(value["redis_url"]),
        refresh_skew=int(value["refresh_skew"]),
        routes=routes,
        cookie_samesite=samesite,  # type: ignore[arg-type]
        session_idle_timeout=int(value["session_idle_timeout"]),
        session_lifetime=int(value["session_lifetime"]),
        login_timeout=int(value["login_timeout"]),
        user_claims=_words(value["user_claims"]),
        frontend_dir=frontend_dir or None,
        post_logout_redirect_path=str(value["post_logout_redirect_path"]),
        provider_timeout=float(value["provider_timeout"]),
        id_token_algorithms=_words(value["id_token_algorithms"]),
        trusted_proxies=parse_networks(value["trusted_proxies"]),
        redis_wait_replicas=int(value["redis_wait_replicas"]),
        redis_wait_timeout_ms=int(value["redis_wait_timeout_ms"]),
        redis_max_connections=int(value["redis_max_connections"]),
        redis_timeout=float(value["redis_timeout"]),
        login_rate_limit=int(value["login_rate_limit"]),
        max_pending_logins=int(value["max_pending_logins"]),
        max_header_bytes=int(value["max_header_bytes"]),
        log_format=str(value["log_format"]).lower(),  # type: ignore[arg-type]
        frontend_dev_server=_origin("BFF_FRONTEND_DEV_SERVER", str(raw["frontend_dev_server"]))
        if raw.get("frontend_dev_server") else None,
        content_security_policy_extra=parse_csp_additions(
            raw.get("content_security_policy_extra")),
        client_auth=str(raw["client_auth"]) if raw.get("client_auth") else None,  # type: ignore[arg-type]
        client_key=_client_key(raw),
        client_key_id=str(raw["client_key_id"]) if raw.get("client_key_id") else None,
        par=str(value["par"]).lower(),  # type: ignore[arg-type]
        dpop=str(value["dpop"]).lower(),  # type: ignore[arg-type]
        dpop_keys=_dpop_keys(raw),
        userinfo=str(value["userinfo"]).lower(),  # type: ignore[arg-type]
        revocation_endpoint=_endpoint("BFF_REVOCATION_ENDPOINT", raw.get("revocation_endpoint")),
        userinfo_endpoint=_endpoint("BFF_USERINFO_ENDPOINT", raw.get("userinfo_endpoint")),
        admin_token_sha256=str(raw["admin_token_sha256"]).strip().lower()
        if raw.get("admin_token_sha256") else None,
        admin_path=str(value["admin_path"]).rstrip("/"),
    )
    _check_consistency(settings)
    return settings


def _dpop_keys(raw: Mapping[str, Any]) -> tuple[SigningKey, ...]:
    if not raw.get("dpop_keys"):
        return ()
    try:
        return load_signing_keys(str(raw["dpop_keys"]), "BFF_DPOP_KEYS")
    except SigningKeyError as exc:
        raise SettingsError(str(exc)) from exc


def _client_key(raw: Mapping[str, Any]) -> SigningKey | None:
    if not raw.get("client_key"):
        return None
    try:
        return load_signing_key(str(raw["client_key"]), "BFF_CLIENT_KEY",
                                str(raw["client_key_id"]) if raw.get("client_key_id") else None)
    except SigningKeyError as exc:
        raise SettingsError(str(exc)) from exc


def _endpoint(name: str, value: Any) -> str | None:
    if not value:
        return None
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")
    return str(value)


def _check_consistency(settings: Settings) -> None:
    if settings.client_auth is not None and settings.client_auth not in CLIENT_AUTH_METHODS:
        raise SettingsError(f"BFF_CLIENT_AUTH must be one of {', '.join(CLIENT_AUTH_METHODS)} "
                            f"(or unset: chosen from discovery), got {settings.client_auth!r}")
    if settings.admin_token_sha256 is not None and not re.fullmatch(
            r"[0-9a-f]{64}", settings.admin_token_sha256):
        raise SettingsError("BFF_ADMIN_TOKEN_SHA256 must be 64 hex characters, the SHA-256 of "
                            "the admin token (`bff generate-admin-token` prints both)")
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", settings.admin_path) or \
            settings.admin_path.startswith("/api"):
        raise SettingsError("BFF_ADMIN_PATH must be a plain path outside /api, e.g. /bff/admin")
    if settings.client_auth == "private_key_jwt" and settings.client_key is None:
        raise SettingsError("BFF_CLIENT_AUTH=private_key_jwt needs BFF_CLIENT_KEY (`bff "
                            "generate-key --client` makes one)")
    if settings.dpop not in DPOP_MODES:
        raise SettingsError(f"BFF_DPOP must be one of {', '.join(DPOP_MODES)}, "
                            f"got {settings.dpop!r}")
    if settings.dpop != "off" and not settings.dpop_keys:
        raise SettingsError(f"BFF_DPOP={settings.dpop} needs BFF_DPOP_KEYS (`bff generate-key "
                            "--dpop` makes one)")
    if settings.par not in PAR_MODES:
        raise SettingsError(f"BFF_PAR must be one of {', '.join(PAR_MODES)}, got {settings.par!r}")
    if settings.userinfo not in USERINFO_MODES:
        raise SettingsError(f"BFF_USERINFO must be one of {', '.join(USERINFO_MODES)}, "
                            f"got {settings.userinfo!r}")
    try:
        parse_redis_url(settings.redis_url)
    except RedisUrlError as exc:
        raise SettingsError(str(exc)) from exc
    if settings.redis_max_connections < 1 or settings.redis_timeout <= 0:
        raise SettingsError("BFF_REDIS_MAX_CONNECTIONS must be at least 1 and BFF_REDIS_TIMEOUT "
                            "a positive number of seconds")
    if settings.login_rate_limit < 0 or settings.max_pending_logins < 0:
        raise SettingsError("BFF_LOGIN_RATE_LIMIT and BFF_MAX_PENDING_LOGINS must be 0 (no "
                            "limit) or more")
    if settings.max_header_bytes < 1024:
        raise SettingsError("max_header_bytes must be at least 1024")
    if settings.log_format not in ("text", "json"):
        raise SettingsError(f"BFF_LOG_FORMAT must be text or json, got {settings.log_format!r}")
    if settings.refresh_skew < 0:
        raise SettingsError("BFF_REFRESH_SKEW must be zero or more seconds")
    if settings.redis_wait_replicas < 0 or settings.redis_wait_timeout_ms <= 0:
        raise SettingsError("BFF_REDIS_WAIT_REPLICAS must be 0 or more and "
                            "redis_wait_timeout_ms a positive number of milliseconds")
    if settings.session_idle_timeout <= 0 or settings.session_lifetime <= 0:
        raise SettingsError("session timeouts must be positive numbers of seconds")
    if settings.session_idle_timeout > settings.session_lifetime:
        raise SettingsError("session_idle_timeout cannot exceed session_lifetime")
    if not settings.issuer.startswith(("https://", "http://")):
        raise SettingsError(f"BFF_ISSUER must be an http(s) URL, got {settings.issuer!r}")
    bad_algs = [a for a in settings.id_token_algorithms
                if a.upper() == "NONE" or a.upper().startswith("HS")]
    if bad_algs:
        raise SettingsError(f"id_token_algorithms may not include {bad_algs}: asymmetric only")
    if not settings.post_logout_redirect_path.startswith("/"):
        raise SettingsError("post_logout_redirect_path must be a path on the BFF's origin")
    if not settings.is_https:
        host = urlsplit(settings.base_url).hostname or ""
        if host not in ("localhost", "127.0.0.1", "::1"):
            raise SettingsError(
                f"BFF_BASE_URL {settings.base_url} is plain http on a non-local host: "
                "the session cookie would travel unencrypted; use https"
            )
        log.warning("plain-http development mode: the session cookie is not Secure")

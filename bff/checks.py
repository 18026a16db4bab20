"""``bff check-config``: could this BFF serve? Settings, Redis, discovery and JWKS, each reported.

One line per check, ``ok`` or ``FAIL`` with what was found or what stopped it; exit code 0 only
when every check passed. Nothing secret is printed: no password, client secret or key.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import jwt
import requests

from bff.errors import BffError
from bff.oidc import OidcClient
from bff.sansio.keyspace import CHECK_CONFIG_PROBE
from bff.sansio.redis_url import parse_redis_url
from bff.settings import Settings, SettingsError, load_settings
from bff.store import RedisOptions, connect, describe_deployment


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_settings(path: str | None) -> tuple[Settings | None, Check]:
    """The settings as ``create_app`` takes them: every route rule is part of settings
    validation, so check-config refuses exactly what start-up refuses."""
    try:
        settings = load_settings(path)
    except SettingsError as exc:
        return None, Check("settings", False, str(exc))
    return settings, Check(
        "settings", True,
        f"base_url={settings.base_url} issuer={settings.issuer} client_id={settings.client_id} "
        f"routes={len(settings.routes)} keys={len(settings.secret_keys)}",
    )


def check_redis(settings: Settings) -> Check:
    target = parse_redis_url(settings.redis_url)
    try:
        client = connect(settings.redis_url, RedisOptions(
            max_connections=2, socket_timeout=settings.redis_timeout,
            connect_timeout=settings.redis_timeout, retries=0))
        client.ping()
        probe = CHECK_CONFIG_PROBE
        client.set(probe, b"1", ex=10)
        client.delete(probe)
        return Check("redis", True, f"{describe_deployment(client, target)}; writable")
    except Exception as exc:  # noqa: BLE001 - report whatever stops us, e.g. auth refused
        return Check("redis", False, f"{target.describe()}: {type(exc).__name__}: {exc}")


def check_provider(settings: Settings) -> list[Check]:
    oidc = OidcClient(settings)
    try:
        meta = oidc.metadata()
    except BffError as exc:
        return [Check("discovery", False, f"{settings.issuer}: {exc.description}")]
    checks = [Check("discovery", True,
                    f"issuer {meta.issuer}; token endpoint {meta.token_endpoint}; "
                    f"end-session {'yes' if meta.end_session_endpoint else 'no'}; "
                    f"userinfo {'yes' if meta.userinfo_endpoint else 'no'}")]
    checks.append(Check(
        "revocation", True, f"logout revokes refresh tokens at {meta.revocation_endpoint}"
        if meta.revocation_endpoint else "WARNING: the provider names no revocation endpoint "
        "(neither OIDC discovery nor RFC 8414 metadata): logout cannot revoke refresh tokens, "
        "which stay valid at the provider until they expire; set BFF_REVOCATION_ENDPOINT"))
    checks.append(check_client_authentication(oidc, settings, meta.client_auth))
    checks.append(Check(
        "par", True, f"pushed authorization requests to {meta.par_endpoint}: the browser's URL "
        "carries only client_id and request_uri" if meta.par_endpoint else
        "authorization requests travel in the browser's URL (no pushed authorization requests"
        f"{': BFF_PAR=off' if settings.par == 'off' else ' offered by the provider'})"))
    checks.append(Check("dpop", True, _dpop_line(settings, meta.dpop)))
    if settings.route_resources:
        checks.append(Check(
            "resources", True, f"routes ask for tokens restricted to "
            f"{', '.join(settings.route_resources)}" + (
                "" if meta.resource_indicators else "; WARNING: the provider does not "
                "advertise resource indicators (RFC 8707): if it ignores them, those routes "
                "answer 502 token_unavailable rather than send a token for another audience")))
    try:
        response = requests.get(meta.jwks_uri, timeout=settings.provider_timeout)
        response.raise_for_status()
        key_set = jwt.PyJWKSet.from_dict(response.json())
    except (requests.RequestException, ValueError, jwt.PyJWKSetError) as exc:
        checks.append(Check("jwks", False, f"{meta.jwks_uri}: {type(exc).__name__}: {exc}"))
        return checks
    usable = [k for k in key_set.keys if k.public_key_use in (None, "sig")
              and k.algorithm_name in settings.id_token_algorithms]
    checks.append(Check(
        "jwks", bool(usable),
        f"{len(usable)} signing key(s) for {', '.join(settings.id_token_algorithms)} "
        f"at {meta.jwks_uri}",
    ))
    return checks


def _dpop_line(settings: Settings, used: bool) -> str:
    if used:
        key = settings.dpop_keys[0]
        return (f"tokens are DPoP-bound to the {key.alg} key {key.kid}: upstreams get "
                "`Authorization: DPoP` and a proof per request")
    if settings.dpop == "off":
        return "bearer tokens (BFF_DPOP=off)"
    return "bearer tokens: the provider does not offer DPoP for the key's algorithm (BFF_DPOP=auto)"


def check_client_authentication(oidc: OidcClient, settings: Settings, method: str) -> Check:
    """A code exchange with a well-formed code no one issued has no side effect, and tells the
    two failures apart: ``invalid_grant`` once the client authenticated, ``invalid_client``
    (or 401) when the client id or secret is wrong."""
    answer = oidc.probe_client_authentication()
    if answer == "invalid_grant":
        return Check("client", True, f"{settings.client_id} authenticates with {method}")
    if answer in ("invalid_client", "unauthorized_client", "401"):
        return Check("client", False, f"the provider refused {settings.client_id}'s "
                     f"credentials with {method} ({answer}): check BFF_CLIENT_ID, "
                     "BFF_CLIENT_SECRET (or BFF_CLIENT_KEY) and BFF_CLIENT_AUTH")
    return Check("client", True, f"{settings.client_id} uses {method}; the provider answered "
                 f"the credentials probe with {answer}, which does not tell")


def check_config(path: str | None) -> int:
    settings, first = check_settings(path)
    results = [first]
    if settings is not None:
        results.append(check_redis(settings))
        results.extend(check_provider(settings))
    for check in results:
        print(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<10} {check.detail}")
    ready = all(check.ok for check in results)
    print("ready to serve" if ready else "not ready: fix the FAIL lines above",
          file=sys.stderr)
    return 0 if ready else 1

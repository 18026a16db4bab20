"""``bff check-config``: can this BFF serve? Settings, Redis, discovery and JWKS, each reported."""

from __future__ import annotations

import sys

import requests

from bff.errors import BffError
from bff.oidc import OidcClient
from bff.settings import SettingsError, load_settings
from bff.store import connect


def check_config(path: str | None) -> int:
    results: list[tuple[str, bool, str]] = []
    try:
        settings = load_settings(path)
    except SettingsError as exc:
        print(f"FAIL settings: {exc}")
        return 1
    results.append(("settings", True,
                    f"base_url={settings.base_url} issuer={settings.issuer} "
                    f"routes={len(settings.routes)} keys={len(settings.secret_keys)}"))
    try:
        connect(settings.redis_url).ping()
        results.append(("redis", True, "reachable"))
    except Exception as exc:  # noqa: BLE001 - report whatever stops us
        results.append(("redis", False, f"{type(exc).__name__}: cannot reach the store"))
    oidc = OidcClient(settings)
    try:
        meta = oidc.metadata()
        results.append(("discovery", True, f"issuer {meta.issuer}"))
        keys = requests.get(meta.jwks_uri, timeout=settings.provider_timeout).json()["keys"]
        results.append(("jwks", bool(keys), f"{len(keys)} key(s) at {meta.jwks_uri}"))
    except (BffError, requests.RequestException, ValueError, KeyError) as exc:
        results.append(("provider", False, str(exc)))
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name:<10} {detail}")
    ready = all(ok for _, ok, _ in results)
    print("ready to serve" if ready else "not ready", file=sys.stderr)
    return 0 if ready else 1

"""The issuer's OIDC discovery document: where its keys and introspection endpoint are."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bff.resource.fetching import Clock, FetchFailed, JsonFetcher, Throttle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    jwks_uri: str
    introspection_endpoint: str | None
    token_endpoint: str | None = None


def discovery_url(issuer: str) -> str:
    """OIDC Discovery §4: the well-known path is appended to the issuer, trailing slash removed."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _http_url(value: object) -> str | None:
    if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
        return value
    return None


def parse_metadata(issuer: str, document: object) -> ProviderMetadata:
    """Refuses a document naming another issuer (OIDC Discovery §4.3): keys must be its own."""
    if not isinstance(document, dict):
        raise FetchFailed("the discovery document is not a JSON object")
    if document.get("issuer") != issuer:
        raise FetchFailed("the discovery document names a different issuer")
    jwks_uri = _http_url(document.get("jwks_uri"))
    if jwks_uri is None:
        raise FetchFailed("the discovery document has no http(s) jwks_uri")
    return ProviderMetadata(
        issuer=issuer,
        jwks_uri=jwks_uri,
        introspection_endpoint=_http_url(document.get("introspection_endpoint")),
        token_endpoint=_http_url(document.get("token_endpoint")),
    )


class Discovery:
    """Fetched on first use, then kept: a service may start before its issuer is up.

    Failures are retried at most once per ``retry_interval`` so an outage costs one request to the
    issuer per interval, not one per incoming call.
    """

    def __init__(self, issuer: str, fetch: JsonFetcher, *, retry_interval: float = 5.0,
                 clock: Clock = time.monotonic) -> None:
        self._issuer = issuer
        self._fetch = fetch
        self._throttle = Throttle(retry_interval, clock)
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None

    def metadata(self) -> ProviderMetadata:
        with self._lock:
            if self._metadata is not None:
                return self._metadata
            if not self._throttle.try_acquire():
                raise FetchFailed("discovery failed recently; not retrying yet")
            url = discovery_url(self._issuer)
            try:
                self._metadata = parse_metadata(self._issuer, self._fetch(url))
            except FetchFailed as exc:
                log.warning("issuer discovery at %s failed: %s", url, exc)
                raise
            return self._metadata

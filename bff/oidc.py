"""The relying-party side of OpenID Connect: discovery, the authorize URL, code exchange,
ID-token validation, refresh, revocation and end-session.

Protocol messages go through Authlib's OAuth2 client; ID tokens are validated with PyJWT against
the provider's JWKS with an explicit asymmetric algorithm allow-list (``alg: none`` and
HMAC-with-the-public-key are refused by construction).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

from bff import metrics, tracing
from bff.errors import LoginFailed, LoginRequired, ProviderUnavailable, TokenUnavailable
from bff.resource.fetching import http_json_fetcher
from bff.resource.jwks import JwksCache, KeysUnavailable, UnknownKey
from bff.sansio.oidc_rules import (
    INVALID_TARGET_HINT,
    DpopUnavailable,
    NoUsableClientAuth,
    ParUnavailable,
    authorization_server_metadata_urls,
    basic_authorization,
    choose_client_auth,
    dpop_to_use,
    id_token_problem,
    logout_token_problem,
    needs_userinfo,
    par_endpoint_to_use,
)
from bff.sansio.refresh import TokenResponse, audience_problem
from bff.settings import Settings
from bff.signing_keys import SigningKey, dpop_proof

log = logging.getLogger(__name__)

DISCOVERY_TTL = 3600.0
CLOCK_LEEWAY = 60
LOGOUT_TOKEN_MAX_AGE = 300
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ASSERTION_LIFETIME = 60
TOKEN_REQUEST_HEADERS = {"Accept": "application/json",
                         "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
OIDC_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access",
                         "roles"})


class RefreshRejected(Exception):
    """The provider answered ``invalid_grant``: the refresh token is dead, the session too."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    revocation_endpoint: str | None
    iss_parameter_supported: bool
    id_token_algorithms: tuple[str, ...]
    userinfo_endpoint: str | None = None
    client_auth: str = "client_secret_basic"
    par_endpoint: str | None = None
    """Where authorization requests are pushed (RFC 9126), when the BFF pushes them."""
    dpop: bool = False
    """Token requests carry DPoP proofs and tokens come back bound to the BFF's key."""
    resource_indicators: bool = False
    """The provider says it supports RFC 8707 (``resource_indicators_supported``, a name some
    providers use; the RFC defines no metadata)."""


@dataclass(frozen=True)
class LoginRequest:
    """What must be remembered between /bff/login and /bff/callback, per ``state``."""

    state: str
    nonce: str
    code_verifier: str
    url: str


class OidcClient:
    """The BFF as an OIDC relying party and confidential client of one provider: discovery (OIDC
    and RFC 8414, cached), the authorize URL (PKCE S256, state, nonce), code exchange, ID-token
    validation with an asymmetric allow-list, userinfo, refresh, revocation and end-session. It
    turns the provider's answers into ``LoginFailed``, ``RefreshRejected`` (the session is dead)
    or ``ProviderUnavailable`` (transient: the session lives on)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._http = requests.Session()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._lock = threading.Lock()
        self._jwks: JwksCache | None = None
        self._jwks_uri = ""
        self._provider_nonce: str | None = None

    def metadata(self) -> ProviderMetadata:
        """Discovery, cached for an hour; the document must name our configured issuer."""
        with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > DISCOVERY_TTL:
                self._metadata = self._discover()
                self._metadata_at = time.monotonic()
                if self._metadata.jwks_uri != self._jwks_uri:
                    # The resource helpers' cache: throttled refetch on an unknown kid, and the
                    # keys already held stay in use while the provider is down.
                    self._jwks_uri = self._metadata.jwks_uri
                    fetch = http_json_fetcher(self._http, self._settings.provider_timeout)
                    self._jwks = JwksCache(partial(fetch, self._jwks_uri))
            return self._metadata

    def _signing_key(self, token: str) -> Any:
        """The provider's public key the token names by ``kid``."""
        assert self._jwks is not None
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or not kid:
            raise LoginFailed("The identity provider's token names no signing key (kid).")
        try:
            return self._jwks.key_for(kid).key
        except KeysUnavailable as exc:
            raise ProviderUnavailable("The identity provider's keys could not be read.") from exc
        except UnknownKey as exc:
            raise LoginFailed("The token is signed with a key the identity provider does not "
                              "publish.") from exc

    def _discover(self) -> ProviderMetadata:
        url = f"{self._settings.issuer}/.well-known/openid-configuration"
        try:
            response = self._http.get(url, timeout=self._settings.provider_timeout)
            response.raise_for_status()
            doc = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable(
                f"The identity provider's discovery document at {url} could not be read."
            ) from exc
        if doc.get("issuer", "").rstrip("/") != self._settings.issuer:
            raise ProviderUnavailable(
                "The identity provider's discovery document names another issuer; refusing it."
            )
        allowed = tuple(a for a in doc.get("id_token_signing_alg_values_supported", ["RS256"])
                        if a in self._settings.id_token_algorithms)
        if not doc.get("revocation_endpoint") and not self._settings.revocation_endpoint:
            doc = {**self._authorization_server_metadata(), **doc}
        try:
            client_auth = choose_client_auth(doc.get("token_endpoint_auth_methods_supported"),
                                             self._settings.client_auth,
                                             has_key=self._settings.client_key is not None,
                                             has_secret=bool(self._settings.client_secret))
            par_endpoint = par_endpoint_to_use(self._settings.par, doc)
            dpop = dpop_to_use(self._settings.dpop, doc, self._dpop_key_alg())
        except (NoUsableClientAuth, ParUnavailable, DpopUnavailable) as exc:
            raise ProviderUnavailable(f"The identity provider cannot be used: {exc}.") from exc
        return ProviderMetadata(
            issuer=doc["issuer"],
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            jwks_uri=doc["jwks_uri"],
            end_session_endpoint=doc.get("end_session_endpoint"),
            revocation_endpoint=self._settings.revocation_endpoint
            or doc.get("revocation_endpoint"),
            iss_parameter_supported=bool(doc.get("authorization_response_iss_parameter_supported")),
            id_token_algorithms=allowed or ("RS256",),
            userinfo_endpoint=self._settings.userinfo_endpoint or doc.get("userinfo_endpoint"),
            client_auth=client_auth,
            par_endpoint=par_endpoint,
            dpop=dpop,
            resource_indicators=doc.get("resource_indicators_supported") is True,
        )

    def _authorization_server_metadata(self) -> dict[str, Any]:
        """RFC 8414 metadata, for what OIDC Discovery does not define (``revocation_endpoint``:
        django-oauth-toolkit lists it only there). Missing or foreign metadata counts as none."""
        for url in authorization_server_metadata_urls(self._settings.issuer):
            try:
                response = self._http.get(url, timeout=self._settings.provider_timeout)
                doc = response.json() if response.ok else None
            except (requests.RequestException, ValueError):
                continue
            if isinstance(doc, dict) and str(doc.get("issuer", "")).rstrip("/") == \
                    self._settings.issuer:
                return doc
        return {}

    def _session(self) -> OAuth2Session:
        method = self._metadata.client_auth if self._metadata else "client_secret_basic"
        key = self._settings.client_key
        session = OAuth2Session(
            client_id=self._settings.client_id,
            client_secret=key.key if method == "private_key_jwt" and key else
            self._settings.client_secret,
            scope=" ".join(self._settings.scopes),
            redirect_uri=self._settings.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
            revocation_endpoint_auth_method=method,
        )
        # Authlib's own client_secret_basic does not form-urlencode (RFC 6749 section 2.3.1).
        session.register_client_auth_method(("client_secret_basic", _secret_basic))
        session.hooks["response"].append(self._remember_nonce)
        if key is not None:
            # RFC 7523 section 3 and its clarification (draft-ietf-oauth-rfc7523bis): the
            # assertion's audience is the issuer identifier, whichever endpoint receives it.
            session.register_client_auth_method(ShortLivedPrivateKeyJWT(
                token_endpoint=self._settings.issuer, headers={"kid": key.kid}, alg=key.alg))
        return session

    def _client_authenticated(self, url: str, params: list[tuple[str, str]]
                              ) -> tuple[str, dict[str, str], str]:
        """A form POST to ``url`` carrying the client's authentication, as Authlib prepares it
        for the token endpoint (for the endpoints Authlib's client does not call itself)."""
        with self._session() as client:
            return client.client_auth(client.token_endpoint_auth_method).prepare(
                "POST", url, {"Content-Type": "application/x-www-form-urlencoded",
                              "Accept": "application/json"}, urlencode(params))

    def start_login(self, prompt: str | None, max_age: int | None = None) -> LoginRequest:
        meta = self.metadata()
        nonce = generate_token(43)
        verifier = generate_token(64)
        extra = {"nonce": nonce}
        if prompt:
            extra["prompt"] = prompt
        if max_age is not None:
            extra["max_age"] = str(max_age)
        with self._session() as client:
            url, state = client.create_authorization_url(
                meta.authorization_endpoint, state=generate_token(43), code_verifier=verifier,
                **extra,
            )
        if self._settings.route_resources:
            # RFC 8707 section 2.1: the resources the routes will ask tokens for, so the grant
            # covers them (a provider without resource indicators ignores the parameter).
            url += "&" + urlencode([("resource", r) for r in self._settings.route_resources])
        if meta.par_endpoint:
            url = self._pushed(meta, url)
        return LoginRequest(state=state, nonce=nonce, code_verifier=verifier, url=url)

    def _pushed(self, meta: ProviderMetadata, url: str) -> str:
        """RFC 9126: the authorization request goes to the provider directly, authenticated;
        the browser's URL carries only ``client_id`` and the ``request_uri`` it got back."""
        params = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        assert meta.par_endpoint is not None
        uri, headers, body = self._client_authenticated(meta.par_endpoint, params)
        try:
            with tracing.span("oidc pushed authorization request", "client"):
                response = self._http.post(uri, headers=headers, data=body,
                                           timeout=self._settings.provider_timeout)
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable("The identity provider did not accept the login request."
                                      ) from exc
        request_uri = answer.get("request_uri") if isinstance(answer, dict) else None
        if response.status_code not in (200, 201) or not isinstance(request_uri, str):
            error = answer.get("error") if isinstance(answer, dict) else None
            log.warning("pushed authorization request refused: %s (HTTP %d)",
                        error or "no request_uri", response.status_code)
            hint = f" {INVALID_TARGET_HINT}." if error == "invalid_target" else ""
            raise LoginFailed(f"The identity provider refused the login request "
                              f"({error or response.status_code}).{hint}")
        query = urlencode({"client_id": self._settings.client_id, "request_uri": request_uri})
        return f"{meta.authorization_endpoint}?{query}"

    def _dpop_key_alg(self) -> str | None:
        keys = self._settings.dpop_keys
        return keys[0].alg if keys and self._settings.dpop != "off" else None

    def new_token_key(self) -> SigningKey | None:
        """The DPoP key new tokens are bound to, when DPoP is in use."""
        return self._settings.dpop_keys[0] if self.metadata().dpop else None

    def bound_key(self, jkt: str | None) -> SigningKey | None:
        """The DPoP key of a token bound to ``jkt`` (None for a bearer token). A bound token
        whose key is no longer configured is unusable."""
        if jkt is None:
            return None
        for key in self._settings.dpop_keys:
            if key.thumbprint == jkt:
                return key
        raise LoginRequired("This session's tokens are bound to a DPoP key that is no longer "
                            "configured; please log in again.")

    def _token_request(self, meta: ProviderMetadata, key: SigningKey | None,
                       call: Callable[[OAuth2Session, dict[str, str]], dict[str, Any]]
                       ) -> tuple[dict[str, Any], SigningKey | None]:
        """A token endpoint call, with a proof of ``key`` when the token is (to be) bound to
        it, answering the provider's ``use_dpop_nonce`` once with the nonce it sent (RFC 9449
        section 8)."""
        for attempt in (1, 2):
            headers = dict(TOKEN_REQUEST_HEADERS)
            if key is not None:
                headers["DPoP"] = dpop_proof(key, "POST", meta.token_endpoint,
                                             nonce=self._provider_nonce)
            try:
                with self._session() as client:
                    return call(client, headers), key
            except OAuthError as exc:
                if key is None or exc.error != "use_dpop_nonce" or attempt == 2:
                    if exc.error == "invalid_dpop_proof":
                        log.warning("the provider refused the BFF's DPoP proof: %s",
                                    exc.description or "no reason given")
                    raise
        raise AssertionError("unreachable")

    def _remember_nonce(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            self._provider_nonce = nonce

    def _token_response(self, token: dict[str, Any], key: SigningKey | None,
                        resource: str | None = None) -> TokenResponse:
        """RFC 9449 section 5: a DPoP-bound token says ``token_type: DPoP``; a provider that
        answers a proof with a bearer token did not bind it, which ``BFF_DPOP=required``
        refuses."""
        kind = str(token.get("token_type", "")).lower()
        if kind == "bearer" and key is not None and self._settings.dpop == "required":
            raise LoginFailed("The identity provider returned a bearer token, not a DPoP-bound "
                              "one, and BFF_DPOP=required.")
        if kind == "dpop" and key is None:
            raise LoginFailed("The identity provider returned a DPoP token without a proof.")
        response = _token_response(token, resource)
        return replace(response, dpop_jkt=key.thumbprint) if kind == "dpop" and key else response

    def exchange_code(self, code: str, code_verifier: str) -> TokenResponse:
        meta = self.metadata()
        try:
            with tracing.span("oidc code exchange", "client"):
                token, key = self._token_request(meta, self.new_token_key(),
                                                 lambda client, headers: client.fetch_token(
                    meta.token_endpoint, grant_type="authorization_code", code=code,
                    code_verifier=code_verifier, timeout=self._settings.provider_timeout,
                    headers=headers))
        except OAuthError as exc:
            raise LoginFailed(f"The identity provider refused the login ({exc.error}).") from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable("The identity provider did not complete the login.") from exc
        return self._token_response(token, key)

    def refresh(self, refresh_token: str, sub: str, resource: str | None = None,
                dpop_jkt: str | None = None) -> TokenResponse:
        """Raises RefreshRejected on invalid_grant, and on an ID token in the answer that is not
        valid or names another user (OIDC Core 12.2); TokenUnavailable when a token for
        ``resource`` (RFC 8707 section 2.2) is refused or not restricted to it;
        ProviderUnavailable on anything transient. A valid refreshed ID token's claims come
        back in ``id_claims``. A refresh token bound to a DPoP key (``dpop_jkt``) is spent
        with a proof of that key."""
        meta = self.metadata()
        extra = {} if resource is None else {"resource": resource}
        try:
            # No scope (RFC 6749 section 6: the grant's own scope is kept). Authlib would
            # send the login's scope, which oidc-provider refuses as invalid_scope when
            # a resource-bound grant does not hold every scope asked at login.
            with tracing.span("oidc token refresh", "client"):
                token, key = self._token_request(meta, self.bound_key(dpop_jkt),
                                                 lambda client, headers: client.refresh_token(
                    meta.token_endpoint, refresh_token=refresh_token, scope=None,
                    timeout=self._settings.provider_timeout, headers=headers, **extra))
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise RefreshRejected(exc.error) from exc
            if exc.error == "invalid_target" and resource is not None:
                raise TokenUnavailable(_target_refused(resource)) from exc
            raise ProviderUnavailable("The identity provider refused to refresh.") from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable("The identity provider could not refresh the session.") \
                from exc
        response = self._token_response(token, key, resource)
        if not response.id_token:
            return response
        try:
            claims = self.validate_id_token(response.id_token, None)
        except LoginFailed as exc:
            log.warning("refresh refused: the provider's new ID token is not valid (%s)",
                        exc.description)
            raise RefreshRejected("invalid_id_token") from exc
        if claims.get("sub") != sub:
            log.warning("refresh refused: the provider's new ID token names another user")
            raise RefreshRejected("sub_changed")
        return replace(response, id_claims=claims)

    def probe_client_authentication(self) -> str:
        """The token endpoint's ``error`` (or status) for a code no one issued: for
        ``bff check-config``, which must tell a wrong secret from a working one."""
        meta = self.metadata()
        uri, headers, body = self._client_authenticated(meta.token_endpoint, [
            ("grant_type", "authorization_code"), ("code", generate_token(43)),
            ("code_verifier", generate_token(64)), ("redirect_uri", self._settings.redirect_uri)])
        try:
            response = self._http.post(uri, headers=headers, data=body,
                                       timeout=self._settings.provider_timeout)
            error = response.json().get("error") if response.content else None
        except (requests.RequestException, ValueError, AttributeError):
            return "unreadable"
        if response.status_code == 401 and error is None:
            return "401"
        return str(error or response.status_code)

    def client_credentials(self, resource: str | None = None) -> TokenResponse:
        """A token for the BFF itself, for routes whose token type is ``client`` (restricted to
        ``resource`` when given)."""
        meta = self.metadata()
        extra = {} if resource is None else {"resource": resource}
        try:
            token, key = self._token_request(meta, self.new_token_key(),
                                             lambda client, headers: client.fetch_token(
                meta.token_endpoint, grant_type="client_credentials",
                scope=" ".join(s for s in self._settings.scopes if s not in OIDC_SCOPES),
                timeout=self._settings.provider_timeout, headers=headers, **extra))
        except OAuthError as exc:
            if exc.error == "invalid_target" and resource is not None:
                raise TokenUnavailable(_target_refused(resource)) from exc
            raise ProviderUnavailable(
                f"The identity provider refused a service token ({exc.error})."
            ) from exc
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable("The identity provider could not issue a service token.") \
                from exc
        return self._token_response(token, key, resource)

    def revoke(self, token: str, hint: str = "refresh_token") -> bool:
        """Best effort (RFC 7009): logout goes on when the provider cannot be reached or names
        no revocation endpoint, but says so, since the token then lives on at the provider."""
        try:
            meta = self.metadata()
        except ProviderUnavailable:
            return _not_revoked("provider_unavailable", "the provider's metadata is unavailable")
        if not meta.revocation_endpoint:
            return _not_revoked("no_endpoint", "the provider names no revocation endpoint "
                                "(set BFF_REVOCATION_ENDPOINT)")
        try:
            with self._session() as client:
                response = client.revoke_token(
                    meta.revocation_endpoint, token=token, token_type_hint=hint,
                    timeout=self._settings.provider_timeout,
                )
        except requests.RequestException:
            return _not_revoked("provider_unavailable", "the revocation endpoint did not answer")
        if not response.ok:
            return _not_revoked("refused",
                                f"the revocation endpoint answered {response.status_code}")
        metrics.REVOCATIONS.labels(outcome="revoked").inc()
        return True

    def userinfo_claims(self, access_token: str, id_claims: dict[str, Any]) -> dict[str, Any]:
        """The ID token's claims, completed from the userinfo endpoint when ``BFF_USERINFO``
        asks for it; userinfo's ``sub`` must be the ID token's (OIDC Core 5.3.2)."""
        settings = self._settings
        if not needs_userinfo(settings.userinfo, settings.scopes, id_claims,
                              settings.user_claims):
            return id_claims
        endpoint = self.metadata().userinfo_endpoint
        if not endpoint:
            if settings.userinfo == "always":
                raise LoginFailed("The identity provider names no userinfo endpoint.")
            return id_claims
        try:
            response = self._http.get(endpoint, timeout=settings.provider_timeout,
                                      headers={"Authorization": f"Bearer {access_token}",
                                               "Accept": "application/json"})
            response.raise_for_status()
            info = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable("The identity provider's userinfo could not be read.") \
                from exc
        if not isinstance(info, dict) or info.get("sub") != id_claims.get("sub"):
            raise LoginFailed("The userinfo endpoint answered for another user (sub differs).")
        return {**info, **id_claims}

    def validate_id_token(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        meta = self.metadata()
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token, key=self._signing_key(id_token),
                algorithms=list(meta.id_token_algorithms),
                audience=self._settings.client_id, issuer=meta.issuer, leeway=CLOCK_LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise LoginFailed(f"The identity provider's ID token is not valid: {exc}") from exc
        problem = id_token_problem(claims, self._settings.client_id, nonce)
        if problem:
            raise LoginFailed(problem)
        return claims

    def validate_logout_token(self, logout_token: str) -> dict[str, Any]:
        """OIDC Back-Channel Logout 1.0, section 2.6; raises LoginFailed when not acceptable."""
        meta = self.metadata()
        try:
            if jwt.get_unverified_header(logout_token).get("typ") != "logout+jwt":
                raise LoginFailed("The logout token's typ is not logout+jwt.")
            claims: dict[str, Any] = jwt.decode(
                logout_token, key=self._signing_key(logout_token),
                algorithms=list(meta.id_token_algorithms),
                audience=self._settings.client_id, issuer=meta.issuer, leeway=CLOCK_LEEWAY,
                options={"require": ["iss", "aud", "iat", "jti", "events"]},
            )
        except jwt.PyJWTError as exc:
            raise LoginFailed(f"The logout token is not valid: {exc}") from exc
        problem = logout_token_problem(claims, time.time(), LOGOUT_TOKEN_MAX_AGE,
                                       BACKCHANNEL_EVENT)
        if problem:
            raise LoginFailed(problem)
        return claims

    def end_session_url(self, post_logout_redirect_uri: str, logout_hint: str | None
                        ) -> str | None:
        """RP-initiated logout without ``id_token_hint``: that would put the ID token into a URL
        the browser (and the SPA, for a fetch-driven logout) can read. ``client_id`` plus the
        provider's ``sid`` as ``logout_hint`` identify the session instead."""
        try:
            endpoint = self.metadata().end_session_endpoint
        except ProviderUnavailable:
            return None
        if not endpoint:
            return None
        params = {"post_logout_redirect_uri": post_logout_redirect_uri,
                  "client_id": self._settings.client_id}
        if logout_hint:
            params["logout_hint"] = logout_hint
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's ``private_key_jwt``, with assertions that live one minute instead of an hour
    (servers may refuse long-lived ones) and a fresh ``jti`` each time: Authlib would keep the
    first one in a shared claims dict, and a retried request would replay it."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return private_key_jwt_sign(auth.client_secret, client_id=auth.client_id,
                                    token_endpoint=token_endpoint, alg=self.alg,
                                    header=self.headers, expires_in=ASSERTION_LIFETIME)


def _secret_basic(client: Any, method: str, uri: str, headers: dict[str, str], body: str
                  ) -> tuple[str, dict[str, str], str]:
    headers["Authorization"] = basic_authorization(client.client_id, client.client_secret or "")
    return uri, headers, body


def _not_revoked(outcome: str, reason: str) -> bool:
    metrics.REVOCATIONS.labels(outcome=outcome).inc()
    log.warning("logout could not revoke the refresh token: %s; it stays valid at the provider "
                "until it expires", reason)
    return False


def _target_refused(resource: str) -> str:
    return f"The identity provider refused a token for {resource} (invalid_target)."


def _token_response(token: dict[str, Any], resource: str | None = None) -> TokenResponse:
    if token.get("token_type", "").lower() not in ("bearer", "dpop") or \
            not token.get("access_token"):
        raise LoginFailed("The identity provider returned no bearer or DPoP access token.")
    if resource is not None:
        problem = audience_problem(token["access_token"], resource)
        if problem:
            log.warning("no token for resource %s: %s", resource, problem)
            raise TokenUnavailable(f"The identity provider did not restrict the token to "
                                   f"{resource}: {problem}.")
    return TokenResponse(
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        id_token=token.get("id_token"),
        expires_in=int(token.get("expires_in", 300)),
        scope=tuple(str(token.get("scope", "")).split()),
    )

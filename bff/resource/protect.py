"""Flask glue: ``@require_token("orders:read")`` and the RFC 6750 answers when a token will not do.

    app = Flask(__name__)
    init_app(app, TokenValidator(ValidatorSettings(issuer=..., audience="orders")), realm="orders")

    @app.get("/orders")
    @require_token("orders:read")
    def orders(): ...                      # current_token() (also g.access_token) is validated
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, jsonify, request

from bff.resource.dpop import InvalidDpopProof, UseDpopNonce
from bff.resource.errors import (
    ConfigurationError,
    InsufficientScope,
    InvalidRequest,
    MissingToken,
    ResourceError,
)
from bff.resource.validation import AccessToken, TokenValidator
from bff.sansio.dpop import ALGORITHMS as DPOP_ALGORITHMS

EXTENSION = "bff.resource"
#: Longer than any sane JWT; stops a huge header from reaching the JSON and base64 decoders.
MAX_TOKEN_LENGTH = 16_384

_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 6749 §3.3
_REALM = re.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]+")  # printable, no quote or backslash

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Protection:
    validator: TokenValidator
    realm: str


def init_app(app: Flask, validator: TokenValidator, *, realm: str = "api") -> None:
    """Makes ``validator`` the one ``@require_token`` uses in ``app``."""
    if not _REALM.fullmatch(realm):
        raise ConfigurationError("realm must be printable ASCII without quotes or backslashes")
    app.extensions[EXTENSION] = Protection(validator=validator, realm=realm)


def bearer_token(authorization: str | None) -> str:
    """The token in ``Authorization: Bearer``; another scheme counts as none (RFC 6750 §3.1)."""
    scheme, token = presented_token(authorization)
    if scheme != "bearer":
        raise MissingToken()
    return token


def presented_token(authorization: str | None) -> tuple[str, str]:
    """``("bearer" | "dpop", token)`` from ``Authorization``; another scheme counts as none."""
    if authorization is None or not authorization.strip():
        raise MissingToken()
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "dpop"):
        raise MissingToken()
    token = credentials.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or not _B64TOKEN.fullmatch(token):
        raise InvalidRequest()
    return scheme.lower(), token


def require_token(*scopes: str) -> Callable[[View], View]:
    """Lets the view run only for a valid token carrying every scope listed."""
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ConfigurationError(f"{scope!r} is not a valid scope name")

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def protected(*args: Any, **kwargs: Any) -> Any:
            protection = _protection()
            try:
                scheme, presented = presented_token(request.headers.get("Authorization"))
                token = protection.validator.validate_presented(
                    scheme, presented, request.headers.getlist("DPoP"), request.method,
                    request_uri(protection.validator.settings.public_base_url))
                if not token.has_scopes(scopes):
                    raise InsufficientScope(scopes)
            except ResourceError as error:
                return error_response(error, protection.realm,
                                      dpop=_dpop_challenge(protection.validator))
            g.access_token = token
            return view(*args, **kwargs)

        return protected  # type: ignore[return-value]

    return decorate


def current_token() -> AccessToken:
    """The token ``@require_token`` validated for this request."""
    token = g.get("access_token")
    if not isinstance(token, AccessToken):
        raise RuntimeError("no validated token: wrap the view in @require_token")
    return token


def request_uri(public_base_url: str | None) -> str:
    """The URI a caller's DPoP proof names: this request's, on the public origin if set."""
    if public_base_url is None:
        return request.base_url
    return public_base_url.rstrip("/") + request.path


def _dpop_challenge(validator: TokenValidator) -> bool:
    """Answer with a DPoP challenge when the request used DPoP or only DPoP is accepted."""
    scheme = request.headers.get("Authorization", "").partition(" ")[0].lower()
    return scheme == "dpop" or validator.settings.dpop == "required"


def www_authenticate(error: ResourceError, realm: str, dpop: bool = False) -> str:
    """RFC 6750 §3 (RFC 9449 section 7.1 for DPoP, with the algorithms accepted): no ``error``
    when no token was sent; ``scope`` names what is missing."""
    parts = [f'realm="{realm}"']
    if error.code is not None:
        parts.append(f'error="{error.code}"')
        parts.append(f'error_description="{error.description}"')
    if isinstance(error, InsufficientScope):
        parts.append(f'scope="{" ".join(error.required)}"')
    if dpop:
        parts.append(f'algs="{" ".join(DPOP_ALGORITHMS)}"')
    return ("DPoP " if dpop else "Bearer ") + ", ".join(parts)


def error_response(error: ResourceError, realm: str, dpop: bool = False) -> Response:
    body: dict[str, str] = {
        "error": error.code or "missing_token",
        "error_description": error.description,
    }
    if isinstance(error, InsufficientScope):
        body["scope"] = " ".join(error.required)
    response = jsonify(body)
    response.status_code = error.status
    response.headers["Cache-Control"] = "no-store"
    if error.status in (400, 401, 403):
        response.headers["WWW-Authenticate"] = www_authenticate(
            error, realm, dpop or isinstance(error, InvalidDpopProof | UseDpopNonce))
    if isinstance(error, UseDpopNonce):
        response.headers["DPoP-Nonce"] = error.nonce
    else:
        response.headers["Retry-After"] = "5"
    return response


def _protection() -> Protection:
    protection = current_app.extensions.get(EXTENSION)
    if not isinstance(protection, Protection):
        raise RuntimeError("bff.resource.init_app(app, validator) was not called for this app")
    return protection

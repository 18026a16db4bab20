"""Every answer a protected endpoint gives instead of its resource (RFC 6750 §3.1).

One tree; each class knows its ``error`` code (``None`` where RFC 6750 says to send none) and its
HTTP status; ``bff.resource.protect`` turns any of them into JSON plus ``WWW-Authenticate``::

    ResourceError
    ├── MissingToken (401, no error code): no bearer token was sent at all
    ├── InvalidRequest (400 invalid_request): a malformed Authorization header
    ├── InvalidToken (401 invalid_token): bad signature, expired, wrong issuer or audience, revoked
    ├── InsufficientScope (403 insufficient_scope): valid token, without a scope the endpoint needs
    └── ValidationUnavailable (503 temporarily_unavailable): keys or introspection unreachable

    ConfigurationError (ValueError): settings refused at start-up, never sent to a caller

Descriptions are fixed sentences written here, never text taken from a token, a token header or a
library exception, so neither a token nor attacker-chosen bytes reach a response or a header.
"""

from __future__ import annotations


class ResourceError(Exception):
    code: str | None = "server_error"
    status = 500
    description = "the token could not be checked"

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or self.description)
        if description:
            self.description = description


class MissingToken(ResourceError):
    code = None
    status = 401
    description = "a bearer token is required"


class InvalidRequest(ResourceError):
    code = "invalid_request"
    status = 400
    description = "the Authorization header is malformed"


class InvalidToken(ResourceError):
    code = "invalid_token"
    status = 401
    description = "the access token is not valid"


class InsufficientScope(ResourceError):
    code = "insufficient_scope"
    status = 403
    description = "the access token lacks a required scope"

    def __init__(self, required: tuple[str, ...]) -> None:
        super().__init__()
        self.required = required


class ValidationUnavailable(ResourceError):
    code = "temporarily_unavailable"
    status = 503
    description = "the access token cannot be checked right now"


class ConfigurationError(ValueError):
    """Settings that cannot work; raised when they are built, so a service fails at start-up."""

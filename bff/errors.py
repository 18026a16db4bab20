"""Every error the BFF shows to a browser or an API caller.

One tree, each class knowing its OAuth-style ``error`` code and HTTP status; ``bff.responses``
turns any of them into JSON (XHR and API calls) or a readable page (navigations)::

    BffError
    ├── BadRequest (400 invalid_request)
    │   └── PathRejected (400 invalid_path)
    ├── LoginRequired (401 login_required)
    │   └── ReauthenticationRequired (401 reauthentication_required): carries a login_url
    ├── Forbidden (403 access_denied)
    │   ├── CsrfRejected (403 csrf_rejected)
    │   ├── InsufficientScope (403 insufficient_scope)
    │   └── InsufficientClaims (403 insufficient_claims)
    ├── NotFound (404 not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── PayloadTooLarge (413 payload_too_large)
    ├── TooManyRequests (429 too_many_requests): an abuse limit (logins per address, pending
    │   logins per browser) was reached; carries Retry-After
    ├── LoginFailed (400 login_failed): the provider refused or the callback was not valid
    ├── ProviderUnavailable (503 provider_unavailable)
    ├── SessionStoreUnavailable (503 session_store_unavailable)
    ├── UpstreamUnavailable (502 upstream_unavailable)
    └── UpstreamTimeout (504 upstream_timeout)

Descriptions are shown to users: they never carry a token, a cookie or a secret.
"""

from __future__ import annotations


class BffError(Exception):
    code = "server_error"
    status = 500
    title = "Something went wrong"

    def __init__(self, description: str = "", *, headers: dict[str, str] | None = None,
                 extra: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description or self.title
        self.headers = headers or {}
        self.extra = extra or {}
        """More fields of the JSON answer, e.g. the ``login_url`` of a fresh login."""


class BadRequest(BffError):
    code = "invalid_request"
    status = 400
    title = "The request is not valid"


class PathRejected(BadRequest):
    code = "invalid_path"
    title = "The path is not allowed"


class LoginRequired(BffError):
    code = "login_required"
    status = 401
    title = "Please log in"


class ReauthenticationRequired(LoginRequired):
    code = "reauthentication_required"
    title = "Please log in again"


class Forbidden(BffError):
    code = "access_denied"
    status = 403
    title = "Access denied"


class CsrfRejected(Forbidden):
    code = "csrf_rejected"
    title = "Cross-site request refused"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"
    title = "Your session does not allow this"


class InsufficientClaims(Forbidden):
    code = "insufficient_claims"
    title = "Your account does not allow this"


class NotFound(BffError):
    code = "not_found"
    status = 404
    title = "Not found"


class MethodNotAllowed(BffError):
    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"


class PayloadTooLarge(BffError):
    code = "payload_too_large"
    status = 413
    title = "The request body is too large"


class TooManyRequests(BffError):
    code = "too_many_requests"
    status = 429
    title = "Too many attempts"


class LoginFailed(BffError):
    code = "login_failed"
    status = 400
    title = "Login failed"


class ProviderUnavailable(BffError):
    code = "provider_unavailable"
    status = 503
    title = "The identity provider cannot be reached"


class TokenUnavailable(BffError):
    """The provider would not issue a token for a route's resource (``invalid_target``, or it
    ignored the resource indicator): that route is unusable, the session is not."""

    code = "token_unavailable"
    status = 502
    title = "No token for this API could be obtained"


class SessionStoreUnavailable(BffError):
    code = "session_store_unavailable"
    status = 503
    title = "The session store cannot be reached"


class UpstreamUnavailable(BffError):
    code = "upstream_unavailable"
    status = 502
    title = "The API cannot be reached"


class UpstreamTimeout(BffError):
    code = "upstream_timeout"
    status = 504
    title = "The API did not answer in time"

"""What an upstream microservice needs to accept the BFF's bearer tokens, and the demo API using it.

See docs/resource-server.md. The pieces a service uses::

    from bff.resource import TokenValidator, ValidatorSettings, init_app, require_token
"""

from __future__ import annotations

from bff.resource.errors import (
    ConfigurationError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    ResourceError,
    ValidationUnavailable,
)
from bff.resource.protect import current_token, error_response, init_app, require_token
from bff.resource.server import make_demo_server, serve_demo_api
from bff.resource.settings import IntrospectionSettings, ValidatorSettings
from bff.resource.validation import AccessToken, TokenValidator

__all__ = [
    "AccessToken",
    "ConfigurationError",
    "InsufficientScope",
    "IntrospectionSettings",
    "InvalidRequest",
    "InvalidToken",
    "MissingToken",
    "ResourceError",
    "TokenValidator",
    "ValidationUnavailable",
    "ValidatorSettings",
    "current_token",
    "error_response",
    "init_app",
    "make_demo_server",
    "require_token",
    "serve_demo_api",
]

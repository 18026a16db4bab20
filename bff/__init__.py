"""bff: a Backend-for-Frontend session bridge.

The browser holds one HttpOnly cookie; the tokens stay on the server.
"""

__version__ = "0.1.0"

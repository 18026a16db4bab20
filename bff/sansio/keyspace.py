"""Every Redis key the BFF writes, in one place.

Each name starts ``bff:`` and carries a hash tag (``{...}``) so that every multi-key operation
stays in one Redis Cluster slot: a session's record, lock and grace record share the session's
handle; everything else is one key per command. Values a browser or a provider chose (a cookie,
a ``state``, a ``jti``, a login binding) appear only as SHA-256 digests, so no key holds a secret
and none can be steered into another's slot or shape.
"""

from __future__ import annotations

import hashlib


def digest(value: str, length: int = 64) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:length]


def session_handle(session_id: str) -> str:
    """The session's name in Redis: the cookie value's digest, never the value itself."""
    return digest(session_id)


def session_record_key(handle: str) -> str:
    return f"bff:{{{handle}}}:session"


def refresh_lock_key(handle: str) -> str:
    return f"bff:{{{handle}}}:lock"


def refresh_grace_key(handle: str) -> str:
    return f"bff:{{{handle}}}:grace"


def session_index_key(kind: str, value: str) -> str:
    """The sessions of one ``sub`` or provider ``sid``."""
    return f"bff:index:{kind}:{{{digest(value)}}}"


def pending_login_key(state: str) -> str:
    return f"bff:login:{{{digest(state)}}}"


def logout_token_key(jti: str) -> str:
    return f"bff:logout-jti:{{{digest(jti)}}}"


def client_token_key(client_id: str, resource: str | None = None) -> str:
    """The BFF's client-credentials token, one per resource it is restricted to."""
    if resource is None:
        return f"bff:client-token:{{{client_id}}}"
    return f"bff:client-token:{{{client_id}}}:{digest(resource, 32)}"


def rate_window_key(name: str, subject: str, index: int) -> str:
    return f"bff:rate:{{{name}:{digest(subject, 32)}}}:{index}"


def pending_logins_key(binding: str) -> str:
    return f"bff:pending-logins:{{{digest(binding, 32)}}}"


CHECK_CONFIG_PROBE = "bff:check-config:{probe}"


def public_session_id(handle: str) -> str:
    """The name a session has in the user's list of sessions: derived from the handle, so it
    reveals neither the cookie nor the Redis key, and acting on it still needs the owner's
    cookie and anti-forgery header."""
    return digest(f"bff:public-session:{handle}", 24)

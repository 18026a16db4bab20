"""``client_secret_basic`` as RFC 6749 section 2.3.1 defines it.

The client id and secret are form-urlencoded (Appendix B) before they are joined and
base64-encoded, so the server must form-decode them: a ``+`` is a space, ``%2B`` a plus.
Authlib decodes with ``unquote``, which keeps ``+`` as it is: a secret with a space fails for a
conforming client (openid-client), and one with ``+`` is read wrongly. This replaces it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749.errors import InvalidClientError


def basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The (client id, secret) of an ``Authorization: Basic`` header, form-decoded; None when
    there is none or it cannot be read."""
    scheme, _, encoded = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client_secret_basic(query_client: Callable[[str], Any], request: Any
                                     ) -> Any | None:
    credentials = basic_credentials(request.headers)
    if credentials is None or not credentials[0] or not credentials[1]:
        return None
    client_id, secret = credentials
    client = query_client(client_id)
    if client is None:
        raise InvalidClientError(status_code=401,
                                 description="The client cannot authenticate.")
    return client if client.check_client_secret(secret) else None

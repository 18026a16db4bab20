"""Pushed authorization requests (RFC 9126): the client posts its authorization request to the
provider directly, authenticated, and sends the browser to /authorize with only its `client_id`
and the `request_uri` it got back, so no authorization parameter is exposed to (or changeable
in) the browser.

A `request_uri` names the pushed parameters for a bounded time, for the one client that pushed
them; /authorize then reads those parameters and nothing else from the URL, through the whole
login (the form post included), and the request is spent when the code is issued.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Payload
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Response, jsonify, request

from bff.authserver.resources import asked_resources, granted_at_authorization
from bff.authserver.store import AuthStore, new_secret

URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
LIFETIME = 300
"""Long enough to sign in (a password, perhaps a second factor); FAPI 2.0 allows under 600 s."""
#: What authenticates the client: never stored with the pushed request.
CLIENT_AUTH_PARAMETERS = frozenset({"client_secret", "client_assertion",
                                    "client_assertion_type"})


class InvalidRequestUri(OAuth2Error):
    """Section 2.2 / 4: the request_uri is unknown, expired, spent or another client's."""

    error = "invalid_request_uri"
    status_code = 400


class PushedPayload(OAuth2Payload):
    """The pushed parameters, read by Authlib's grants as if they were the authorize URL's."""

    def __init__(self, pairs: list[tuple[str, str]], request_uri: str) -> None:
        self.request_uri = request_uri
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._datalist[name].append(value)
        self._data = {name: values[0] for name, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


def pushed_payload(store: AuthStore, args: Any) -> PushedPayload | None:
    """The pushed request an /authorize URL names, or None when it names none."""
    request_uri = args.get("request_uri")
    if request_uri is None:
        return None
    pushed = store.pushed_request(request_uri)
    if pushed is None:
        raise InvalidRequestUri("This login link has expired or was already used; please "
                                "start again from the application.")
    client_id, pairs = pushed
    if args.get("client_id") != client_id:
        raise InvalidRequestUri("The request_uri belongs to another client.")
    return PushedPayload(pairs, request_uri)


def push(server: Any, store: AuthStore) -> Response:
    """``POST /par``: authenticate the client as the token endpoint does, check what can be
    checked now (the rest is checked at /authorize, as for any request), keep it, answer 201."""
    oauth_request = server.create_oauth2_request(request)
    try:
        client = server.authenticate_client(oauth_request, server.client_auth_methods(), "token")
        pairs = [(name, value) for name in request.form for value in request.form.getlist(name)
                 if name not in CLIENT_AUTH_PARAMETERS]
        names = {name for name, _ in pairs}
        if "request_uri" in names:
            raise InvalidRequestError("A pushed request cannot itself name a request_uri.")
        if dict(pairs).get("client_id", client.client_id) != client.client_id:
            raise InvalidRequestError("client_id differs from the authenticated client.")
        if dict(pairs).get("response_type") != "code":
            raise InvalidRequestError("response_type must be code.")
        if not client.check_redirect_uri(dict(pairs).get("redirect_uri", "")):
            raise InvalidRequestError("redirect_uri is not registered for this client.")
        granted_at_authorization(asked_resources(
            {"resource": [v for k, v in pairs if k == "resource"]}), client.config.resources)
    except OAuth2Error as error:
        return server.handle_error_response(oauth_request, error)
    request_uri = URI_PREFIX + new_secret(32)
    store.save_pushed_request(request_uri, client.client_id,
                              [*pairs, ("client_id", client.client_id)]
                              if "client_id" not in names else pairs, LIFETIME)
    response = jsonify({"request_uri": request_uri, "expires_in": LIFETIME})
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response

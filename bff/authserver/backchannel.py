"""OIDC Back-Channel Logout: tell each client of an ended provider session, server to server.

The logout token is a JWT (`typ: logout+jwt`) signed with the current key, naming the `sid`
and `sub`. It is POSTed from a small thread pool so a slow or dead client cannot hold up the
user's logout page; failures are logged without the token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from bff.authserver.keys import KeyStore
from bff.authserver.settings import AuthServerSettings, ClientConfig
from bff.authserver.store import new_secret
from bff.authserver.tokens import request_signing_key

log = logging.getLogger(__name__)

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class BackchannelLogout:
    def __init__(self, settings: AuthServerSettings, keys: KeyStore) -> None:
        self._settings = settings
        self._keys = keys
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="bff-as-backchannel")

    def logout_token(self, client: ClientConfig, sub: str, sid: str) -> str:
        key = request_signing_key(self._keys)
        now = int(time.time())
        claims = {"iss": self._settings.issuer, "aud": client.client_id, "iat": now,
                  "exp": now + self._settings.logout_token_lifetime, "jti": new_secret(16),
                  "sub": sub, "sid": sid, "events": {LOGOUT_EVENT: {}}}
        header = {"alg": key.alg, "kid": key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, KeySet([key.private_key]), [key.alg])

    def notify(self, client_ids: Iterable[str], sub: str, sid: str) -> list[Future[None]]:
        futures = []
        for client_id in sorted(client_ids):
            client = self._settings.client(client_id)
            if client is None or not client.backchannel_logout_uri:
                continue
            token = self.logout_token(client, sub, sid)
            futures.append(self._pool.submit(self._deliver, client, token))
        return futures

    def _deliver(self, client: ClientConfig, token: str) -> None:
        try:
            response = requests.post(client.backchannel_logout_uri, data={"logout_token": token},
                                     timeout=self._settings.backchannel_logout_timeout,
                                     allow_redirects=False)
        except requests.RequestException as exc:
            log.warning("back-channel logout to client %s failed: %s", client.client_id,
                        type(exc).__name__)
            return
        if response.status_code != 200:
            log.warning("back-channel logout to client %s answered %s", client.client_id,
                        response.status_code)

"""DPoP at the reference provider's token endpoint (RFC 9449 section 5): a token request with a
valid proof gets tokens bound to the proof's key (`cnf.jkt`, `token_type: DPoP`), and a refresh
token issued that way works only with a proof of the same key.

Proofs are verified by ``bff.sansio.dpop``; here are the provider's own parts: the replay cache
(a proof's ``jti`` is accepted once per key, in Redis, for as long as the proof could pass), and
server nonces when ``dpop_nonce = true`` (section 8): an HMAC of the current minute under a
secret kept in Redis, so every instance issues and accepts the same nonces without state per
client; the previous minute's nonce is still accepted.
"""

from __future__ import annotations

import secrets
import time

from flask import Response, g, jsonify, request

from bff.authserver.settings import AuthServerSettings
from bff.authserver.store import AuthStore
from bff.sansio.dpop import ALGORITHMS, DpopError, nonce_is_current, server_nonce, verify_proof

PROOF_MAX_AGE = 300
PROOF_LEEWAY = 5


class DpopBinding:
    """The token endpoint's DPoP rules; ``check`` runs before the grant, ``finish`` after."""

    def __init__(self, settings: AuthServerSettings, store: AuthStore) -> None:
        self._settings = settings
        self._store = store
        self._token_endpoint = f"{settings.issuer}/token"

    def _secret(self) -> bytes:
        return self._store.dpop_nonce_secret(secrets.token_bytes(32))

    def current_nonce(self) -> str:
        return server_nonce(self._secret(), time.time())

    def check(self) -> Response | None:
        """None to go on (with ``g.bff_as_dpop_jkt`` set when a proof binds the tokens), or the
        error answer: ``invalid_dpop_proof``, or ``use_dpop_nonce`` with a fresh nonce."""
        proofs = request.headers.getlist("DPoP")
        if not proofs:
            return None
        try:
            verified = verify_proof(proofs, method="POST", uri=self._token_endpoint,
                                    now=time.time(), max_age=PROOF_MAX_AGE, leeway=PROOF_LEEWAY)
            if self._settings.dpop_nonce and not nonce_is_current(self._secret(), verified.nonce,
                                                                   time.time()):
                raise DpopError("a fresh server nonce is required", "use_dpop_nonce")
            if not self._store.first_use_of_proof(verified.jkt, verified.jti,
                                                  PROOF_MAX_AGE + 2 * PROOF_LEEWAY):
                raise DpopError("this DPoP proof was used before")
        except DpopError as exc:
            return self._error(exc)
        g.bff_as_dpop_jkt = verified.jkt
        return None

    def finish(self, response: Response) -> Response:
        if self._settings.dpop_nonce:
            response.headers["DPoP-Nonce"] = self.current_nonce()
        return response

    def _error(self, exc: DpopError) -> Response:
        response = jsonify({"error": exc.error, "error_description": exc.description})
        response.status_code = 400
        response.headers["Cache-Control"] = "no-store"
        return self.finish(response)


def discovery_metadata() -> dict[str, list[str]]:
    return {"dpop_signing_alg_values_supported": list(ALGORITHMS)}

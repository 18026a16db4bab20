"""DOT's validator with the two behaviours the suite needs from a provider we did not write:
profile and email claims only from userinfo (OIDC Core 5.4 allows it; DOT's ID token carries only
``sub`` by default), and, when DOT_POST_ONLY is set, client authentication by form post only."""

from __future__ import annotations

import os
from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator


class InteropValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "name": "profile",
                        "email": "email", "preferred_username": "profile"}

    def get_userinfo_claims(self, request: Any) -> dict[str, Any]:
        claims = super().get_userinfo_claims(request)
        user = request.user
        claims.update(name=f"{user.first_name} {user.last_name}", email=user.email,
                      preferred_username=user.username)
        return claims

    def _authenticate_basic_auth(self, request: Any) -> bool:
        if os.environ.get("DOT_POST_ONLY"):
            return False
        return bool(super()._authenticate_basic_auth(request))

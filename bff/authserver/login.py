"""Checking a username and password, with throttling of repeated failures.

Failures are counted per username and per client address in Redis, inside a window, so a
password-guessing run is slowed down whichever instance it hits. An unknown username costs the
same scrypt time as a wrong password, so timing does not reveal which usernames exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from bff.authserver.passwords import burn_verification_time, verify_password
from bff.authserver.settings import AuthServerSettings, User
from bff.authserver.store import AuthStore


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    throttled: bool = False


def check_credentials(settings: AuthServerSettings, store: AuthStore, username: str,
                      password: str, address: str) -> LoginOutcome:
    limits = settings.login
    user_failures, address_failures = store.login_failures(username, address)
    if (user_failures >= limits.max_failures_per_user
            or address_failures >= limits.max_failures_per_address):
        return LoginOutcome(user=None, throttled=True)
    user = settings.user(username)
    if user is None:
        burn_verification_time(password)
    elif verify_password(password, user.password_hash):
        store.clear_login_failures(username)
        return LoginOutcome(user=user)
    store.record_login_failure(username, address, limits.failure_window)
    return LoginOutcome(user=None)

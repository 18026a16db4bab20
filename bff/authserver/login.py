"""Checking a username and password, with throttling of repeated failures.

Attempts are counted per username and per client address in Redis, inside a window, before the
password is checked (a successful one is then forgiven), so a password-guessing run is slowed
down whichever instance it hits, however many requests it sends at once. An unknown username
costs the same scrypt time as a wrong password, so timing does not reveal which usernames exist.
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
    """The attempt is counted first, atomically, and only then is the password checked."""
    limits = settings.login
    user_attempts, address_attempts = store.count_login_attempt(username, address,
                                                                limits.failure_window)
    if (user_attempts > limits.max_failures_per_user
            or address_attempts > limits.max_failures_per_address):
        return LoginOutcome(user=None, throttled=True)
    user = settings.user(username)
    if user is None:
        burn_verification_time(password)
    elif verify_password(password, user.password_hash):
        store.forget_login_attempt(username, address)
        return LoginOutcome(user=user)
    return LoginOutcome(user=None)

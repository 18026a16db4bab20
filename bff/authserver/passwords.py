"""Salted scrypt hashes for user passwords and client secrets kept in the configuration file.

Format: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can grow later while old
hashes still verify. Produce one with ``python -m bff.authserver.passwords`` (reads the secret
from a prompt, or from stdin when it is not a terminal).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import sys

SCHEME = "scrypt"
LOG2_N = 14
BLOCK_SIZE = 8
PARALLELISM = 1
SALT_BYTES = 16
HASH_BYTES = 32
_MAX_LOG2_N = 20


def hash_password(password: str, *, log2_n: int = LOG2_N) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, log2_n, BLOCK_SIZE, PARALLELISM)
    return "$".join([SCHEME, str(log2_n), str(BLOCK_SIZE), str(PARALLELISM),
                     _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check; a malformed stored hash never matches."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    log2_n, r, p, salt, expected = parsed
    return hmac.compare_digest(_scrypt(password, salt, log2_n, r, p), expected)


def burn_verification_time(password: str) -> None:
    """Spend the time of one verification, so an unknown username is not faster to reject."""
    _scrypt(password, b"\0" * SALT_BYTES, LOG2_N, BLOCK_SIZE, PARALLELISM)


def is_password_hash(value: object) -> bool:
    return isinstance(value, str) and _parse(value) is not None


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return None
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None
    if not (1 <= log2_n <= _MAX_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16) or not salt or not digest:
        return None
    return log2_n, r, p, salt, digest


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r * p, dklen=HASH_BYTES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc


def main() -> None:
    if sys.stdin.isatty():
        secret = getpass.getpass("password or client secret: ")
        if secret != getpass.getpass("again: "):
            sys.exit("the two entries differ")
    else:
        secret = sys.stdin.readline().rstrip("\n")
    if not secret:
        sys.exit("refusing to hash an empty secret")
    print(hash_password(secret))


if __name__ == "__main__":
    main()

from __future__ import annotations

import subprocess
import sys

from bff.authserver.passwords import hash_password, is_password_hash, verify_password
from tests.support import ROOT


def test_hash_verifies_only_the_same_password() -> None:
    stored = hash_password("wonderland")
    assert verify_password("wonderland", stored)
    assert not verify_password("Wonderland", stored)
    assert not verify_password("", stored)


def test_hashes_are_salted() -> None:
    assert hash_password("same") != hash_password("same")


def test_plaintext_and_malformed_hashes_never_match() -> None:
    for stored in ("wonderland", "", "scrypt$14$8$1$$", "scrypt$99$8$1$c2FsdA$aGFzaA",
                   "pbkdf2$1$2$3$4$5"):
        assert not is_password_hash(stored)
        assert not verify_password("wonderland", stored)


def test_command_line_hashes_a_secret_from_stdin() -> None:
    result = subprocess.run([sys.executable, "-m", "bff.authserver.passwords"],
                            input="s3cret\n", capture_output=True, text=True, cwd=ROOT,
                            check=True)
    stored = result.stdout.strip()
    assert verify_password("s3cret", stored)
    assert "s3cret" not in stored

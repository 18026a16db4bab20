from __future__ import annotations

import json
import multiprocessing
import stat
import time
from pathlib import Path

from bff.authserver.keys import RETIREMENT_LEEWAY, KeyStore, published_keys, rotate_keys
from bff.authserver.settings import AuthServerSettings


def settings_for(key_dir: Path, **overrides: object) -> AuthServerSettings:
    """Rotation takes effect at once unless a test asks for a pre-publication period."""
    return AuthServerSettings(issuer="http://localhost:8001", key_dir=str(key_dir),
                              **{"key_publish_ahead": 0, **overrides})


def _start_one(key_dir: str, start: float, results: multiprocessing.Queue) -> None:
    while time.time() < start:
        time.sleep(0.001)
    results.put(KeyStore(settings_for(Path(key_dir))).ensure_signing_key().kid)


def test_first_start_creates_one_private_key_file(tmp_path: Path) -> None:
    key = KeyStore(settings_for(tmp_path / "keys")).ensure_signing_key()
    files = list((tmp_path / "keys").glob("*.json"))
    assert [f.stem for f in files] == [key.kid]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert json.loads(files[0].read_text())["jwk"]["d"]


def test_restart_keeps_the_key(tmp_path: Path) -> None:
    first = KeyStore(settings_for(tmp_path)).ensure_signing_key()
    assert KeyStore(settings_for(tmp_path)).ensure_signing_key().kid == first.kid


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = time.time() + 1.5
    workers = [context.Process(target=_start_one, args=(str(tmp_path), start, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    kids = {results.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(timeout=30)
    assert len(kids) == 1
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_jwks_holds_public_parts_only(tmp_path: Path) -> None:
    store = KeyStore(settings_for(tmp_path))
    store.ensure_signing_key()
    (key,) = store.jwks()["keys"]
    assert key["use"] == "sig" and key["alg"] == "RS256" and key["kid"]
    assert "d" not in key


def test_es256_is_selectable(tmp_path: Path) -> None:
    key = KeyStore(settings_for(tmp_path, signing_alg="ES256")).ensure_signing_key()
    assert key.alg == "ES256"
    (public,) = KeyStore(settings_for(tmp_path, signing_alg="ES256")).jwks()["keys"]
    assert public["kty"] == "EC" and public["crv"] == "P-256"


def test_changing_the_algorithm_rotates_to_a_key_of_that_algorithm(tmp_path: Path) -> None:
    rsa = KeyStore(settings_for(tmp_path)).ensure_signing_key()
    store = KeyStore(settings_for(tmp_path, signing_alg="ES256"))
    ec = store.ensure_signing_key()
    assert ec.alg == "ES256"
    assert [k["kid"] for k in store.jwks()["keys"]] == [ec.kid, rsa.kid]


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = KeyStore(settings)
    old = store.ensure_signing_key()
    new_kid = rotate_keys(settings)
    assert new_kid != old.kid
    assert store.signing_key().kid == new_kid  # a running process sees the rotation
    assert {k["kid"] for k in store.jwks()["keys"]} == {old.kid, new_kid}


def test_old_key_is_retired_once_its_tokens_have_expired(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = KeyStore(settings)
    old = store.ensure_signing_key()
    rotate_keys(settings)
    new = store.signing_key()
    still_valid = new.activates_at + settings.max_signed_token_lifetime
    assert old in store.published(now=still_valid)
    assert store.published(now=still_valid + RETIREMENT_LEEWAY) == (new,)


def test_a_key_without_successor_is_never_retired(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    key = KeyStore(settings).ensure_signing_key()
    assert published_keys((key,), settings, now=time.time() + 10**9) == (key,)


def test_rotation_deletes_retired_key_files(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    old = KeyStore(settings).ensure_signing_key()
    path = tmp_path / f"{old.kid}.json"
    data = json.loads(path.read_text())
    data["created_at"] -= 10 * settings.max_signed_token_lifetime
    data["activates_at"] -= 10 * settings.max_signed_token_lifetime
    path.write_text(json.dumps(data))
    middle = rotate_keys(settings)
    middle_path = tmp_path / f"{middle}.json"
    data = json.loads(middle_path.read_text())
    data["created_at"] -= 5 * settings.max_signed_token_lifetime
    data["activates_at"] -= 5 * settings.max_signed_token_lifetime
    middle_path.write_text(json.dumps(data))
    newest = rotate_keys(settings)
    assert not path.exists()
    assert {p.stem for p in tmp_path.glob("*.json")} == {middle, newest}


def test_a_rotated_key_is_published_before_it_signs(tmp_path: Path) -> None:
    """A relying party that fetched the JWKS just before the rotation (jose refetches at most
    every 30 s) must already know the key that will sign next."""
    settings = settings_for(tmp_path, key_publish_ahead=300)
    store = KeyStore(settings)
    old = store.ensure_signing_key()
    new_kid = rotate_keys(settings)
    assert store.signing_key().kid == old.kid
    assert {k["kid"] for k in store.jwks()["keys"]} == {old.kid, new_kid}
    later = time.time() + 301
    assert store.signing_key(now=later).kid == new_kid
    assert old in store.published(now=later)


def test_the_old_key_retires_counting_from_its_successors_activation(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, key_publish_ahead=300)
    store = KeyStore(settings)
    old = store.ensure_signing_key()
    rotate_keys(settings)
    new = next(k for k in store.published() if k.kid != old.kid)
    still_valid = new.activates_at + settings.max_signed_token_lifetime
    assert old in store.published(now=still_valid)
    assert store.published(now=still_valid + RETIREMENT_LEEWAY) == (new,)


def test_the_first_key_signs_at_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, key_publish_ahead=300)
    key = KeyStore(settings).ensure_signing_key()
    assert KeyStore(settings).signing_key().kid == key.kid

"""A built SPA served by a real ``bff serve`` process: caching, fallback, CSP, refused paths."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bff.settings import generate_secret_key
from tests.support import BffProcess, RedisServer, free_port, start_bff

INDEX = "<!doctype html><title>spa</title><script type=module src=/assets/index-BBNC6nA8.js>"
VITE_ASSET = "assets/index-BBNC6nA8.js"
HEX_ASSET = "main.3f9a1c2b.js"
PAGE = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("spa-build")
    (root / "assets").mkdir()
    (root / "index.html").write_text(INDEX)
    (root / VITE_ASSET).write_text("console.log('vite');")
    (root / HEX_ASSET).write_text("console.log('webpack');")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / ".env").write_text("API_KEY=do-not-serve")
    (root.parent / "outside.txt").write_text("outside the build")
    return root


@pytest.fixture(scope="module")
def bff(build: Path, redis_server: RedisServer) -> Iterator[BffProcess]:
    port = free_port()
    process = start_bff(["serve", "--port", str(port)], port, env={
        "BFF_CONFIG": "",
        "BFF_BASE_URL": f"http://localhost:{port}",
        "BFF_ISSUER": "http://localhost:9",
        "BFF_CLIENT_ID": "spa-test",
        "BFF_CLIENT_SECRET": "spa-test-secret",
        "BFF_SECRET_KEYS": generate_secret_key(),
        "BFF_REDIS_URL": redis_server.url,
        "BFF_FRONTEND_DIR": str(build),
        "BFF_CONTENT_SECURITY_POLICY_EXTRA": "img-src https://images.example; "
                                             "connect-src https://errors.example",
    })
    try:
        yield process
    finally:
        process.stop()


def test_index_is_served_with_the_strict_policy_and_revalidated(bff: BffProcess) -> None:
    page = requests.get(f"{bff.url}/", headers=PAGE)
    assert page.status_code == 200 and page.text == INDEX
    assert page.headers["Cache-Control"] == "no-cache"
    policy = page.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self'; script-src 'self'; style-src 'self'; ")
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "img-src 'self' data: https://images.example;" in policy
    assert "connect-src 'self' https://errors.example;" in policy


def test_client_side_route_gets_index_html(bff: BffProcess) -> None:
    deep = requests.get(f"{bff.url}/orders/42?tab=items", headers=PAGE)
    assert deep.status_code == 200 and deep.text == INDEX
    assert deep.headers["Cache-Control"] == "no-cache"
    assert "default-src 'self'" in deep.headers["Content-Security-Policy"]


def test_index_revalidates_to_304(bff: BffProcess) -> None:
    first = requests.get(f"{bff.url}/", headers=PAGE)
    again = requests.get(f"{bff.url}/", headers={**PAGE, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("asset", [VITE_ASSET, HEX_ASSET])
def test_hashed_assets_are_immutable(bff: BffProcess, asset: str) -> None:
    response = requests.get(f"{bff.url}/{asset}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Type"].startswith("text/javascript")


def test_unhashed_file_is_revalidated(bff: BffProcess) -> None:
    response = requests.get(f"{bff.url}/favicon.svg")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache"


def test_missing_script_is_a_404_not_index_html(bff: BffProcess) -> None:
    for accept in ("*/*", PAGE["Accept"]):
        response = requests.get(f"{bff.url}/assets/index-Gone1234.js", headers={"Accept": accept})
        assert response.status_code == 404
        assert INDEX not in response.text
        assert "immutable" not in response.headers.get("Cache-Control", "")


def test_json_fetch_of_a_missing_path_is_a_404(bff: BffProcess) -> None:
    response = requests.get(f"{bff.url}/orders/42", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_dotfile_in_the_build_folder_is_not_served(bff: BffProcess) -> None:
    response = requests.get(f"{bff.url}/.env", headers=PAGE)
    assert response.status_code == 404
    assert "do-not-serve" not in response.text


@pytest.mark.parametrize("target", [
    "/../outside.txt", "/assets/../../outside.txt", "/%2e%2e/outside.txt", "/..%2foutside.txt",
])
def test_path_traversal_out_of_the_build_folder_is_refused(bff: BffProcess, target: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", bff.port, timeout=5)
    try:
        conn.request("GET", target, headers={"Accept": "*/*"})
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    assert "outside the build" not in body
    assert response.status in (200, 400, 404)  # 200 only as the SPA's own index.html
    if response.status == 200:
        assert body == INDEX


def test_unknown_bff_and_api_paths_are_not_answered_by_the_spa(bff: BffProcess) -> None:
    for path in ("/bff/nothing", "/api/unknown/route"):
        response = requests.get(f"{bff.url}{path}", headers=PAGE)
        assert response.status_code in (403, 404)  # /api refuses a call without X-CSRF first
        assert INDEX not in response.text


def test_only_reads_reach_the_spa(bff: BffProcess) -> None:
    assert requests.head(f"{bff.url}/orders/42", headers=PAGE).status_code == 200
    assert requests.post(f"{bff.url}/orders/42", headers=PAGE).status_code == 405

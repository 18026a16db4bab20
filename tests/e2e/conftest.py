"""Fixtures of the browser suite: Debian's Chromium through Playwright, and real stacks.

Playwright cannot download browsers on these machines, so it drives ``/usr/bin/chromium``
(``apt-get install chromium``; ``.ci/run`` does it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.e2e.reach import baseline_globals
from tests.e2e.stacks import Stack, start_http_stack, start_https_stack
from tests.support import ROOT, RedisServer, start_redis

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SHORT_ACCESS_TOKEN_LIFETIME = 4
"""Seconds an access token lives in the https stack, so a test can wait one out."""


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Screenshots and HAR files of the run (gitignored)."""
    path = ROOT / "test-output"
    (path / "screenshots").mkdir(parents=True, exist_ok=True)
    (path / "har").mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """One Playwright per run: a second one in the same thread is refused."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    with sync_playwright() as running:
        yield running


def launch_chromium(playwright: Playwright, *extra_args: str) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM,
                                      args=[*CHROMIUM_ARGS, *extra_args])


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def blank_globals(chromium: Browser) -> list[str]:
    """Window properties of a blank page: what the SPA adds beyond them is its globals."""
    return baseline_globals(chromium)


@pytest.fixture(scope="session")
def e2e_redis() -> Iterator[RedisServer]:
    """A private Redis whose RDB dump is uncompressed, so a byte search of it is meaningful."""
    server = start_redis(["--rdbcompression", "no"])
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_stack(e2e_redis: RedisServer) -> Iterator[Stack]:
    stack = start_http_stack(e2e_redis)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def https_stack(e2e_redis: RedisServer) -> Iterator[Stack]:
    stack = start_https_stack(e2e_redis, access_token_lifetime=SHORT_ACCESS_TOKEN_LIFETIME)
    try:
        yield stack
    finally:
        stack.stop()

"""Fetching the issuer's JSON documents, and the throttle that keeps us from asking too often."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

#: GET a URL and return its parsed JSON; raises FetchFailed. A seam: unit tests pass a function.
JsonFetcher = Callable[[str], Any]
Clock = Callable[[], float]


class FetchFailed(Exception):
    """A document could not be fetched, or was not what the issuer should publish."""


def http_json_fetcher(session: requests.Session, timeout: float) -> JsonFetcher:
    """GETs with a timeout and no redirects: keys come from the URL we were given, nowhere else."""

    def fetch(url: str) -> Any:
        try:
            response = session.get(
                url, timeout=timeout, allow_redirects=False, headers={"Accept": "application/json"}
            )
            response.raise_for_status()
            return response.json()
        except requests.RequestException as exc:
            raise FetchFailed(f"GET {url} failed ({type(exc).__name__})") from exc
        except ValueError as exc:
            raise FetchFailed(f"GET {url} did not return JSON") from exc

    return fetch


class Throttle:
    """Allows one attempt per ``interval`` seconds; callers hold their own lock."""

    def __init__(self, interval: float, clock: Clock = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def try_acquire(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True

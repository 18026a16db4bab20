"""Sessions for the loads: real logins, planted sessions, and the refresh storm.

A login is a scripted browser going through the real authorization server's form. Planted
sessions are made by the BFF's own ``SessionStore.create`` (so their records are exactly what a
login writes), with the logged-in user's real tokens and a distinct ``sub``/``sid`` each.
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import redis
import requests

from bff.sansio.forms import first_form
from bff.sansio.keyspace import session_handle, session_index_key, session_record_key
from bff.sealing import Sealer
from bff.sessions import SessionStore
from bff.settings import load_settings
from tests.integration.scale_support import make_refresh_due

USERNAME, PASSWORD = "alice", "wonderland"


class LoginFailed(RuntimeError):
    pass


def log_in(start_url: str, cookie_name: str, username: str = USERNAME,
           password: str = PASSWORD) -> str:
    """A whole authorization-code login in a fresh browser; returns the ``Cookie`` header value
    of the app's session cookie (the peer may split it into ``name.0``, ``name.1``...)."""
    browser = requests.Session()
    page = browser.get(start_url, timeout=30)
    form = first_form(page.text)
    if page.status_code != 200 or form.action is None:
        raise LoginFailed(f"no login form at {page.url} ({page.status_code})")
    browser.post(urljoin(page.url, form.action), timeout=30,
                 data={**form.fields, "username": username, "password": password})
    app_host = urlsplit(start_url).hostname
    cookies = [f"{c.name}={c.value}" for c in browser.cookies
               if (c.name == cookie_name or c.name.startswith(cookie_name + "."))
               and c.domain.startswith(str(app_host))]
    if not cookies:
        raise LoginFailed(f"no {cookie_name} cookie after logging in at {start_url}")
    return "; ".join(sorted(cookies))


@dataclass(frozen=True)
class LoginRate:
    logins: int
    failures: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.logins / self.seconds if self.seconds else 0.0


def login_rate(start_url: str, cookie_name: str, concurrency: int, seconds: float,
               max_logins: int) -> LoginRate:
    """Complete logins, each in a fresh browser, from ``concurrency`` browsers at once, until
    the time or the count runs out."""
    deadline = time.monotonic() + seconds
    durations: list[float] = []
    failures = 0
    lock = threading.Lock()
    started = time.monotonic()

    def browser_loop() -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            with lock:
                if len(durations) + failures >= max_logins:
                    return
            begin = time.monotonic()
            try:
                log_in(start_url, cookie_name)
            except (LoginFailed, requests.RequestException):
                with lock:
                    failures += 1
                continue
            with lock:
                durations.append(time.monotonic() - begin)

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(browser_loop) for _ in range(concurrency)]:
            future.result()
    elapsed = time.monotonic() - started
    return LoginRate(len(durations), failures, elapsed, *percentiles_ms(durations))


def percentiles_ms(samples: list[float]) -> tuple[float, float, float]:
    if not samples:
        return 0.0, 0.0, 0.0
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return at(0.5), at(0.9), at(0.99)


def session_store(config: Path, redis_url: str, secret_key: str) -> SessionStore:
    """The BFF's own store, from the same settings file the benchmarked BFF reads."""
    settings = load_settings(config, environ={"BFF_REDIS_URL": redis_url,
                                              "BFF_SECRET_KEYS": secret_key})
    return SessionStore(redis.Redis.from_url(redis_url), Sealer(settings.secret_keys), settings)


def session_id_of(cookie: str, name: str = "bff") -> str:
    for part in cookie.split("; "):
        key, _, value = part.partition("=")
        if key == name:
            return value
    raise LoginFailed(f"no {name} cookie in {cookie[:20]}...")


def plant_sessions(store: SessionStore, template_id: str, count: int,
                   progress: Callable[[int], None] | None = None, threads: int = 8) -> list[str]:
    """``count`` sessions with the template session's tokens and claims, each its own user and
    provider session; returns their session ids."""
    template = store.load(template_id, slide=False)
    if template is None:
        raise LoginFailed("the logged-in session is gone; cannot plant copies of it")
    sid_length = len(template.sid or "") or 22

    def plant(index: int) -> str:
        session_id, _ = store.create(template.tokens, sub=f"bench-user-{index:07d}",
                                     sid=secrets.token_urlsafe(sid_length)[:sid_length],
                                     claims=template.claims)
        return session_id

    ids: list[str] = []
    batch = 10_000
    with ThreadPoolExecutor(threads) as pool:
        for first in range(0, count, batch):
            ids.extend(pool.map(plant, range(first, min(count, first + batch))))
            if progress:
                progress(len(ids))
    return ids


def write_cookie_file(path: Path, session_ids: list[str], sample: int) -> Path:
    """A uniform sample of sessions for wrk to cycle through, one Cookie header a line."""
    step = max(1, len(session_ids) // sample)
    path.write_text("".join(f"bff={sid}\n" for sid in session_ids[::step][:sample]))
    return path


def session_memory(client: redis.Redis, session_id: str) -> int:
    """Bytes Redis holds for one session record (``MEMORY USAGE``, key and value)."""
    return int(client.memory_usage(session_record_key(session_handle(session_id)), samples=0) or 0)


def record_breakdown(store: SessionStore, session_id: str) -> dict[str, int]:
    """Where a session record's bytes go: each JSON field, and each token before sealing."""
    key = session_record_key(session_handle(session_id))
    raw = store.redis.get(key) or b"{}"
    fields = {f"field {name}": len(json.dumps(value, separators=(",", ":")))
              for name, value in json.loads(raw).items()}
    session = store.load(session_id, slide=False)
    tokens = {} if session is None else {
        "access token": len(session.tokens.access_token),
        "refresh token": len(session.tokens.refresh_token or ""),
    }
    indexes = {} if session is None else {
        f"MEMORY USAGE {kind} index": int(store.redis.memory_usage(session_index_key(kind, value),
                                                                   samples=0) or 0)
        for kind, value in (("sub", session.sub), ("sid", session.sid)) if value}
    return {"value bytes": len(raw), "MEMORY USAGE": session_memory(store.redis, session_id),
            **indexes, **fields, **tokens}


def rotated_refresh_tokens(auth_redis: redis.Redis) -> int:
    """Refresh grants the authorization server has served: each rotates one refresh token."""
    return sum(1 for key in auth_redis.scan_iter(match="bff:as:rt:*", count=1000)
               if auth_redis.hget(key, "state") == b"rotated")


def revoked_families(auth_redis: redis.Redis) -> int:
    return sum(1 for key in auth_redis.scan_iter(match="bff:as:family:*", count=1000)
               if auth_redis.hget(key, "revoked") == b"1")


def sequential_requests(port: int, path: str, cookie: str, count: int) -> int:
    """``count`` requests one after another on one keep-alive connection; returns how many
    answered 200. Nothing is in flight before or after, so server-side counters divide exactly."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie, "X-CSRF": "1", "Host": f"localhost:{port}"}
    ok = 0
    try:
        for _ in range(count):
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            answer.read()
            ok += answer.status == 200
    finally:
        conn.close()
    return ok


@dataclass(frozen=True)
class StormResult:
    requests: int
    ok: int
    failures: int
    statuses: dict[int, int]
    refresh_grants: int
    families_revoked: int
    completion_ms: float
    p50_ms: float
    p99_ms: float
    after_ok: bool


def refresh_storm(port: int, path: str, cookie: str, bff_redis: redis.Redis,
                  auth_redis: redis.Redis, concurrency: int = 100) -> StormResult:
    """``concurrency`` requests at once, each on its own connection, from one session whose
    access token has just expired; then one more request to show the session still works."""
    session_id = session_id_of(cookie)
    grants_before = rotated_refresh_tokens(auth_redis)
    revoked_before = revoked_families(auth_redis)
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                   for _ in range(concurrency)]
    for conn in connections:
        conn.connect()
    make_refresh_due(bff_redis, session_id)
    gate = threading.Barrier(concurrency + 1)
    statuses: list[int] = [0] * concurrency
    finished: list[float] = [0.0] * concurrency
    headers = {"Cookie": cookie, "X-CSRF": "1", "Host": f"localhost:{port}"}

    def fire(index: int) -> None:
        conn = connections[index]
        gate.wait()
        try:
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            answer.read()
            statuses[index] = answer.status
        except (OSError, http.client.HTTPException):
            statuses[index] = -1
        finally:
            finished[index] = time.perf_counter()
            conn.close()

    workers = [threading.Thread(target=fire, args=(i,)) for i in range(concurrency)]
    for worker in workers:
        worker.start()
    gate.wait()
    released = time.perf_counter()
    for worker in workers:
        worker.join(timeout=90)
    after = requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=30)
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    durations = [end - released for end in finished if end]
    p50, _, p99 = percentiles_ms(durations)
    return StormResult(
        requests=concurrency, ok=counts.get(200, 0), failures=concurrency - counts.get(200, 0),
        statuses=counts, refresh_grants=rotated_refresh_tokens(auth_redis) - grants_before,
        families_revoked=revoked_families(auth_redis) - revoked_before,
        completion_ms=round((max(finished) - released) * 1000, 1), p50_ms=p50, p99_ms=p99,
        after_ok=after.status_code == 200,
    )

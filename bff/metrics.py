"""Prometheus series the BFF exports at ``/metrics``, defined once per process.

Under gunicorn each worker is its own process: with ``PROMETHEUS_MULTIPROC_DIR`` set (an empty
directory, shared by the workers, wiped before start) the scrape adds up every worker; without
it, each scrape sees only the worker that answered it. Labels are bounded on purpose: routes are
the configured prefixes or Flask rules, never raw paths.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from bff.settings import HTTP_METHODS

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "bff_requests_total", "Requests answered, by route, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "bff_request_duration_seconds",
    "Time from request to response headers, by route and method.",
    ["route", "method"], buckets=LATENCY_BUCKETS,
)
UPSTREAM_SECONDS = Histogram(
    "bff_upstream_duration_seconds",
    "Time an upstream API took to send its response headers, by route and outcome.",
    ["route", "outcome"], buckets=LATENCY_BUCKETS,
)
REFRESHES = Counter(
    "bff_token_refreshes_total",
    "Refresh grants sent to the provider, by outcome (refreshed, rejected, "
    "provider_unavailable).",
    ["outcome"],
)
LOCK_WAIT_SECONDS = Histogram(
    "bff_refresh_lock_wait_seconds",
    "Time a request waited for another one's refresh of the same session.",
    buckets=LATENCY_BUCKETS,
)
LOCK_TIMEOUTS = Counter(
    "bff_refresh_lock_timeouts_total",
    "Requests that gave up waiting for another one's refresh of the same session.",
)
REDIS_ERRORS = Counter(
    "bff_redis_errors_total",
    "Session store failures, by kind (connection, timeout, loading, cluster, out_of_memory, "
    "replica_ack_missing).",
    ["kind"],
)
LOGINS = Counter("bff_logins_total", "Completed login callbacks, by outcome.", ["outcome"])
LOGOUTS = Counter("bff_logouts_total", "Logouts, by kind (user, backchannel).", ["kind"])
RATE_LIMITED = Counter(
    "bff_rate_limited_total", "Requests refused by an abuse limit, by limit.", ["limit"],
)


_children: dict[tuple[object, ...], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once per process: prometheus_client takes a lock
    and checks the labels on every call, a cost the hot path pays per request (bench/). Callers
    pass bounded labels only, so the cache stays small."""
    found = _children.get((metric, *labels))
    if found is None:
        found = _children[(metric, *labels)] = metric.labels(*labels)
    return found


def request_done(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request; a method no route can allow is labelled ``other``."""
    method = method if method in HTTP_METHODS else "other"
    child(REQUESTS, route, method, str(status)).inc()
    child(REQUEST_SECONDS, route, method).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets: this process's series, or every worker's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
ADMIN_DENIED = Counter(
    "bff_admin_denied_total",
    "Admin API requests refused for a missing or wrong credential.")
REVOCATIONS = Counter(
    "bff_revocations_total",
    "Refresh-token revocations at logout, by outcome (revoked, no_endpoint, refused, "
    "provider_unavailable): anything but revoked leaves the token valid at the provider.",
    ["outcome"])

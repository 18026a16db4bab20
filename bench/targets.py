"""The issue's targets, checked against one run's figures: each says what was measured."""

from __future__ import annotations

from typing import Any

from bench.report import Row

SESSION_BYTES_LIMIT = 3 * 1024
FLAT_TOLERANCE = 0.10


def _row(rows: list[Row], scenario: str, target: str | None = None) -> Row | None:
    for row in rows:
        if row.scenario == scenario and (target is None or row.target == target):
            return row
    return None


def verdicts(rows: list[Row], extra: dict[str, Any], server: str) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(target: str, met: bool, measured: str) -> None:
        checks.append({"target": target, "met": met, "measured": measured})

    api = _row(rows, "BFF /api", server)
    bare = _row(rows, "bare proxy", server)
    peer = next((r for r in rows if r.scenario == "peer /api"), None)
    if api and peer:
        ratio = api.rps / peer.rps if peer.rps else float("inf")
        check("BFF /api throughput >= 2x the Node.js peer", ratio >= 2,
              f"{api.rps:,.0f} vs {peer.rps:,.0f} req/s = {ratio:.2f}x")
    if api and bare:
        ratio = api.rps / bare.rps if bare.rps else 0.0
        check("BFF /api throughput >= 90% of the bare proxy", ratio >= 0.9,
              f"{api.rps:,.0f} vs {bare.rps:,.0f} req/s = {ratio:.0%}")
    edge = _row(rows, "edge + BFF authz /api", server)
    if edge and peer:
        ratio = edge.rps / peer.rps if peer.rps else float("inf")
        check("forward-auth throughput >= 3x the Node.js peer (200-byte answer)", ratio >= 3,
              f"{edge.rps:,.0f} vs {peer.rps:,.0f} req/s = {ratio:.2f}x")
    edge_big = _row(rows, "edge + BFF authz 1 MB", server)
    peer_big = next((r for r in rows if r.scenario == "peer /api 1 MB"), None)
    if edge_big and peer_big:
        ratio = edge_big.rps / peer_big.rps if peer_big.rps else float("inf")
        ceiling = _row(rows, "direct 1 MB")
        check("forward-auth throughput >= 10x the Node.js peer (1 MB answer)", ratio >= 10,
              f"{edge_big.rps:,.0f} vs {peer_big.rps:,.0f} req/s = {ratio:.2f}x"
              + (f" (wrk straight from nginx, no proxy: {ceiling.rps:,.0f} req/s = "
                 f"{ceiling.rps / peer_big.rps:.1f}x)" if ceiling and peer_big.rps else ""))
    api_m = _row(rows, "BFF /api (moderate)", server)
    bare_m = _row(rows, "bare proxy (moderate)", server)
    if api_m and bare_m:
        added = api_m.p50_ms - bare_m.p50_ms
        check("p50 added over the bare proxy <= 0.5 ms at moderate load",
              added <= 0.5, f"{api_m.p50_ms:.2f} - {bare_m.p50_ms:.2f} = {added:.2f} ms at "
              f"{api_m.rps:,.0f} req/s over {api_m.connections} paced connections")
    hot = extra.get("hot_path")
    if hot:
        check("one Redis round trip per proxied request (invariant 9)",
              hot["redis_commands_per_request"] <= 1.0 and hot["ok"] == hot["requests"],
              f"{hot['redis_commands_per_request']:.3f} commands per request over "
              f"{hot['requests']} sequential requests {hot['redis_commands']}")
        check("no call to the provider on the hot path", hot["provider_requests"] == 0,
              f"{hot['provider_requests']} requests reached the authorization server during "
              f"{hot['requests']} proxied requests")
    provider_calls = extra.get("provider_requests_during_api")
    if provider_calls:
        check("no call to the provider under load", False,
              f"{provider_calls} requests reached the authorization server during BFF /api")
    storm = extra.get("refresh_storm")
    if storm:
        check("refresh storm: exactly 1 refresh grant, 0 failures",
              storm["refresh_grants"] == 1 and storm["failures"] == 0 and storm["after_ok"],
              f"{storm['refresh_grants']} grant(s), {storm['failures']} failure(s) of "
              f"{storm['requests']}, done in {storm['completion_ms']:.0f} ms")
    size = extra.get("redis_bytes_per_session")
    if size:
        check("Redis memory <= 3 KB per session", size <= SESSION_BYTES_LIMIT,
              f"MEMORY USAGE of a logged-in session's record: {size:,} bytes")
    scale = extra.get("scale") or []
    if len(scale) >= 2:
        small, large = scale[0], scale[-1]
        # At the largest count Redis's fixed costs (hash-table growth) are spread thinnest: that
        # figure is what one more session costs; the smaller counts are shown beside it.
        others = ", ".join(f"{s['redis_bytes_per_session']:,} at {s['sessions']:,}"
                           for s in scale[:-1])
        check("Redis memory <= 3 KB per session, all keys counted",
              large["redis_bytes_per_session"] <= SESSION_BYTES_LIMIT,
              f"{large['redis_bytes_per_session']:,} bytes per session at "
              f"{large['sessions']:,} sessions ({others}; used_memory delta over the planted "
              "sessions: records and index sets)")
        rps_change = large["rps"] / small["rps"] - 1 if small["rps"] else 0.0
        cpu_change = (large["cpu_ms_per_request"] / small["cpu_ms_per_request"] - 1
                      if small["cpu_ms_per_request"] else 0.0)
        small_usec = small.get("redis_usec_per_getex")
        large_usec = large.get("redis_usec_per_getex")
        redis_change = large_usec / small_usec - 1 if small_usec and large_usec else 0.0
        check(f"flat per-request cost from {small['sessions']:,} to {large['sessions']:,} "
              "sessions (within 10%)",
              rps_change >= -FLAT_TOLERANCE and cpu_change <= FLAT_TOLERANCE,
              f"throughput {rps_change:+.0%}, BFF CPU per request {cpu_change:+.0%}, Redis time "
              f"per GETEX {small_usec} -> {large_usec} us ({redis_change:+.0%})")
    return checks

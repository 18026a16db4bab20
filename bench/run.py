"""One benchmark run: start everything on localhost, run bounded loads, stop, report.

See bench/README.md for what each scenario means and how to read the results.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import SCENARIOS, profile, report, stack, variants
from bench.load import Load, Meter, run_wrk
from bench.report import Row
from bench.sessions import (
    log_in,
    login_rate,
    plant_sessions,
    record_breakdown,
    refresh_storm,
    sequential_requests,
    session_id_of,
    session_memory,
    session_store,
    write_cookie_file,
)
from bff.processes import free_port, free_port_run
from bff.settings import generate_secret_key

RESULTS = Path(__file__).resolve().parent / "results"
REQUIRED = ("wrk", "nginx", "redis-server")
PEER_PROGRAMS = ("node", "npm")
API_PATH = "/api/orders"
BIG_PATH = "/api/orders/big"
WARM_UP_SECONDS = 1.0
SNAPSHOT_ENV = "BENCH_SNAPSHOT_OF"


def say(message: str) -> None:
    print(message, flush=True)


def preflight(args: argparse.Namespace, wanted: set[str]) -> None:
    programs = list(REQUIRED) + (list(PEER_PROGRAMS) if "peer" in wanted else [])
    missing = stack.missing_programs(programs)
    if missing and args.install and os.geteuid() == 0:
        say(f"installing {', '.join(missing)}: {stack.install_hint(missing)}")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(stack.install_hint(missing).split(), check=True)
        missing = stack.missing_programs(programs)
    if missing:
        raise SystemExit(f"bench: missing {', '.join(missing)}. On Debian: "
                         f"{stack.install_hint(missing)} (or rerun as root with --install)")
    if "peer" in wanted and not stack.peer_dependencies_ready():
        if not args.install:
            raise SystemExit("bench: the peer's npm packages are not installed: "
                             "(cd bench/peer && npm ci), or rerun with --install")
        say("installing the peer's npm packages from bench/peer/package-lock.json (npm ci)")
        stack.install_peer_dependencies()
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise SystemExit("bench: matplotlib is missing: .venv/bin/pip install -e '.[bench]'") \
            from exc


class Run:
    """One benchmark run: the rows so far and every other figure, for the report."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.saturating = Load(args.connections, args.seconds)
        self.moderate = Load(args.moderate_connections, args.seconds, args.moderate_pace_ms)
        self.rows: list[Row] = []
        self.extra: dict[str, Any] = {}

    def load(self, scenario: str, target: str, url: str, path: str, load: Load,
             cookie_file: Path | None = None, meter: Meter | None = None) -> Row:
        say(f"  {scenario:<24} {target:<22} c={load.connections:<3} {load.seconds:g}s ...")
        # A short unmeasured load first, so that connection pools are full and the measured
        # load sees what a long-running server sees.
        run_wrk(url, path, replace(load, seconds=WARM_UP_SECONDS), cookie_file)
        meter = meter or Meter()
        measured: list[Row] = []
        for _ in range(self.args.repeat):
            meter.start()
            split = meter.cpu_split()
            result = run_wrk(url, path, load, cookie_file)
            commands = meter.commands_used() if meter.redis_client is not None else None
            used = [round(after - before, 2) for before, after in
                    zip(split, meter.cpu_split(), strict=False)]
            measured.append(replace(Row.from_wrk(
                scenario, target, load.connections, result,
                cpu_seconds=meter.cpu_used() if meter.root_pid else None, commands=commands,
                rss=meter.worker_rss_mb()), cpu_seconds_per_process=used,
                redis_usec_per_call=meter.usec_per_call(commands or {})))
        # The median run by throughput, so one disturbed run (a busy neighbour) does not decide.
        row = sorted(measured, key=lambda r: r.rps)[len(measured) // 2]
        if len(measured) > 1:
            row = replace(row, runs_rps=[r.rps for r in measured])
        self.rows.append(row)
        flag = f"  ERRORS: {result.errors}" if row.errors else ""
        say(f"    {row.rps:>9,.0f} req/s  p50 {row.p50_ms:.2f} ms  p90 {row.p90_ms:.2f} ms  "
            f"p99 {row.p99_ms:.2f} ms{flag}")
        return row


def main(args: argparse.Namespace) -> int:
    commit = os.environ.get(SNAPSHOT_ENV, "worktree")
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = wanted - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"bench: unknown scenarios {sorted(unknown)}; known: {SCENARIOS}")
    specs = [stack.ServerSpec(s.strip()) for s in args.servers.split(",") if s.strip()]
    for spec in specs:
        spec.gunicorn_args()
    unknown_variants = {v for v in args.variants.split(",") if v} - set(variants.VARIANTS)
    if unknown_variants:
        raise SystemExit(f"bench: unknown variants {sorted(unknown_variants)}; known: "
                         f"{sorted(variants.VARIANTS)}")
    preflight(args, wanted)
    run = Run(args)
    started = time.time()
    run.extra["machine_before"] = report.machine()
    run.extra["bff_revision"] = commit
    say(f"bench {args.name}: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with stack.workspace() as workdir:
        execute(run, workdir, wanted, specs)
    run.extra["load_average_after"] = os.getloadavg()
    run.extra["wall_seconds"] = round(time.time() - started, 1)
    finish(run, specs)
    return 0


def execute(run: Run, workdir: Path, wanted: set[str], specs: list[stack.ServerSpec]) -> None:
    secret_key = generate_secret_key()
    with ExitStack() as services:
        bff_redis = services.enter_context(stack.redis_server(workdir, "redis-bff"))
        auth_redis = services.enter_context(stack.redis_server(workdir, "redis-authserver"))
        upstream = services.enter_context(stack.nginx(workdir))
        port = free_port_run(3)
        peer_port = port + 2
        issuer = f"http://localhost:{port + 1}"
        config = stack.authserver_config(workdir, port, peer_port)
        provider = services.enter_context(stack.authserver(
            workdir, port + 1, config, f"redis://127.0.0.1:{auth_redis.port}/0"))
        say(f"upstream: nginx (1 worker) on :{upstream.port}; authorization server on "
            f":{port + 1}; BFF on :{port}")
        if "direct" in wanted:
            say("direct: the load generator calls nginx itself (the floor)")
            run.load("direct", "nginx", upstream.url, "/orders", run.saturating)
            if "moderate" in wanted:
                run.load("direct (moderate)", "nginx", upstream.url, "/orders", run.moderate)
            if "edge" in wanted:
                # The ceiling of moving 1 MB answers on this machine, no proxy in between.
                run.load("direct 1 MB", "nginx", upstream.url, "/orders/big", run.saturating)
        for index, spec in enumerate(specs):
            primary = index == 0
            bench_server(run, workdir, wanted, spec, primary, port, issuer, upstream, bff_redis,
                         auth_redis, provider, secret_key)
        if "peer" in wanted:
            bench_peer(run, workdir, peer_port, issuer, upstream, workers_of(specs[0]))


def workers_of(spec: stack.ServerSpec) -> int:
    if spec.text != "default":
        return int(spec.text.split("/")[1])
    return int(os.environ.get("BFF_WORKERS", os.cpu_count() or 1))


def bench_server(run: Run, workdir: Path, wanted: set[str], spec: stack.ServerSpec,
                 primary: bool, port: int, issuer: str, upstream: stack.Process,
                 bff_redis: stack.Process, auth_redis: stack.Process, provider: stack.Process,
                 secret_key: str) -> None:
    label = f"gunicorn {spec.label}"
    redis_url = f"redis://127.0.0.1:{bff_redis.port}/0"
    bff_client = stack.redis_client(bff_redis)
    if "bare" in wanted:
        with stack.bare_proxy(workdir, free_port(), upstream, spec) as bare:
            say(f"bare proxy ({label}): Flask + urllib3 pass-through, no session, no token")
            run.load("bare proxy", label, bare.url, API_PATH, run.saturating,
                     meter=Meter(bare.pid))
            if "moderate" in wanted:
                run.load("bare proxy (moderate)", label, bare.url, API_PATH, run.moderate,
                         meter=Meter(bare.pid))
            if run.args.profile and primary:
                run.extra["bare_profile"] = profile_load(run, workdir, bare, None, "bare")
    with stack.bff(workdir, port, issuer, upstream, redis_url, secret_key, spec) as bff:
        say(f"BFF ({label}): logging in as alice through the authorization server")
        cookie = log_in(f"{bff.url}/bff/login?returnUrl=/healthz", "bff")
        cookie_file = workdir / "one-session.txt"
        cookie_file.write_text(cookie + "\n")
        if "api" in wanted and primary:
            round_trips(run, bff, cookie, bff_client, provider)
        if "api" in wanted:
            provider_lines = line_count(provider.log)
            row = run.load("BFF /api", label, bff.url, API_PATH, run.saturating, cookie_file,
                           Meter(bff.pid, bff_client))
            if primary:
                run.extra["provider_requests_during_api"] = line_count(provider.log) - \
                    provider_lines
            run.extra.setdefault("redis_commands_per_api_request", {})[spec.label] = \
                row.redis_commands
        if "user" in wanted:
            run.load("BFF /bff/user", label, bff.url, "/bff/user", run.saturating, cookie_file,
                     Meter(bff.pid, bff_client))
        if "edge" in wanted and primary:
            with stack.edge(workdir, upstream, upstream) as ceiling:
                say("forward-auth ceiling: nginx's authz subrequest answered by nginx itself")
                run.load("edge, authz free (ceiling)", "nginx", ceiling.url, API_PATH,
                         run.saturating, cookie_file)
            with stack.edge(workdir, bff, upstream) as edge:
                say("forward-auth: nginx asks the BFF's /bff/authz, then moves the bytes itself")
                run.load("edge + BFF authz /api", label, edge.url, API_PATH, run.saturating,
                         cookie_file, Meter(bff.pid, bff_client))
                run.load("edge + BFF authz 1 MB", label, edge.url, BIG_PATH, run.saturating,
                         cookie_file, Meter(bff.pid, bff_client))
                if run.args.profile:
                    run.extra["edge_profile"] = profile_load(run, workdir, bff, cookie_file,
                                                             "BFF authz", via=edge)
            run.load("BFF /api 1 MB", label, bff.url, BIG_PATH, run.saturating, cookie_file,
                     Meter(bff.pid, bff_client))
        if "moderate" in wanted:
            run.load("BFF /api (moderate)", label, bff.url, API_PATH, run.moderate, cookie_file,
                     Meter(bff.pid, bff_client))
        if not primary:
            return
        if run.args.profile:
            profiled = profile_load(run, workdir, bff, cookie_file, "BFF")
            if profiled:
                run.extra["profile"] = {"bare proxy": run.extra.pop("bare_profile", None),
                                        "BFF": profiled}
                print_profiles(run.extra["profile"]["bare proxy"], profiled)
        if run.extra.get("edge_profile"):
            say("    forward-auth: the BFF answering /bff/authz")
            print_profiles(run.extra["profile"]["bare proxy"] if "profile" in run.extra
                           else None, run.extra["edge_profile"])
        run.extra["redis_bytes_per_session"] = session_memory(bff_client, session_id_of(cookie))
        store = session_store(bff_config_path(workdir, bff.port), redis_url, secret_key)
        run.extra["session_record"] = record_breakdown(store, session_id_of(cookie))
        say(f"session record: {run.extra['session_record']}")
        if "storm" in wanted:
            storm(run, bff, cookie, bff_client, auth_redis)
        if "scale" in wanted:
            scale(run, workdir, bff, cookie, bff_client, redis_url, secret_key, label)
        if "logins" in wanted:
            logins(run, bff, auth_redis)
    if primary:
        for variant in filter(None, run.args.variants.split(",")):
            port = free_port()
            with stack.bff(workdir, port, issuer, upstream, redis_url, secret_key, spec,
                           variant.strip()) as changed:
                doc = " ".join((variants.VARIANTS[variant.strip()].__doc__ or "").split())
                say(f"variant {variant}: {doc}")
                run.load(f"BFF /api [{variant}]", label, changed.url, API_PATH, run.saturating,
                         cookie_file, Meter(changed.pid, bff_client))


def round_trips(run: Run, bff: stack.Process, cookie: str, bff_client: Any,
                provider: stack.Process, count: int = 1000) -> None:
    """Invariant 9 counted exactly: Redis commands and provider requests for ``count``
    sequential proxied requests, with nothing in flight at either end."""
    sequential_requests(bff.port, API_PATH, cookie, 50)
    meter = Meter(None, bff_client)
    meter.start()
    provider_lines = line_count(provider.log)
    ok = sequential_requests(bff.port, API_PATH, cookie, count)
    commands = meter.commands_used()
    per_request = {name: round(n / count, 3) for name, n in commands.items()}
    setup = sum(n for name, n in commands.items() if name in report.CONNECTION_SETUP)
    run.extra["hot_path"] = {
        "requests": count, "ok": ok, "redis_commands": commands,
        "redis_commands_per_request": round((sum(commands.values()) - setup) / count, 3),
        "redis_connection_setup_commands": setup,
        "provider_requests": line_count(provider.log) - provider_lines,
    }
    say(f"hot path: {count} sequential /api requests ({ok} ok) sent {per_request} Redis "
        f"commands per request and {run.extra['hot_path']['provider_requests']} requests to "
        "the provider")


def line_count(path: Path) -> int:
    """Lines of a server's log: the authorization server logs one per request it serves."""
    with path.open("rb") as log:
        return sum(1 for _ in log)


def profile_load(run: Run, workdir: Path, target: stack.Process, cookie_file: Path | None,
                 label: str, via: stack.Process | None = None) -> dict[str, Any] | None:
    """py-spy on every worker of ``target`` for ``--seconds`` in the middle of an /api load
    (sent to ``via``, the edge, when given); returns the shares and the interpreter's
    microseconds per request in each category."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.load import process_tree

    workers = process_tree(target.pid)[1:]
    outputs = [workdir / f"profile-{label}-{pid}.txt" for pid in workers]
    seconds = run.args.seconds
    say(f"profile: py-spy on the {label} workers {workers} during an /api load"
        f"{' through the edge' if via else ''}")
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(run_wrk, (via or target).url, API_PATH,
                           replace(run.saturating, seconds=seconds + 2), cookie_file)
        time.sleep(0.5)
        recorders = [profile.start_recording(pid, seconds, output)
                     for pid, output in zip(workers, outputs, strict=True)]
        failures = [r.communicate(timeout=seconds + 60)[1] for r in recorders if r.wait(
            timeout=seconds + 60) != 0]
        result = load.result()
    if failures:
        say(f"    py-spy failed: {failures[0].decode(errors='replace').strip()[:300]}")
        return None
    merged = workdir / f"profile-{label}.txt"
    merged.write_text("".join(o.read_text() for o in outputs if o.exists()))
    summary = profile.summarise(merged)
    python_us_per_request = summary.samples / profile.RATE / (result.rps * seconds) * 1e6
    per_category = {name: round(pct * python_us_per_request / 100, 1)
                    for name, pct in summary.categories.items()}
    return {**asdict(summary), "rps": round(result.rps, 1),
            "python_us_per_request": round(python_us_per_request, 1),
            "us_per_request": per_category}


def print_profiles(bare: dict[str, Any] | None, bff: dict[str, Any]) -> None:
    say(f"    interpreter time per request, by category (GIL-holder samples at "
        f"{profile.RATE} Hz): bare proxy {bare['python_us_per_request'] if bare else '-'} us, "
        f"BFF {bff['python_us_per_request']} us")
    say(f"    {'category':<46} {'bare us':>8} {'BFF us':>8} {'added':>8}")
    for name, us in bff["us_per_request"].items():
        floor = bare["us_per_request"].get(name, 0.0) if bare else 0.0
        say(f"    {name:<46} {floor:>8.1f} {us:>8.1f} {us - floor:>+8.1f}")
    say("    BFF functions by time spent in the function itself (inclusive, self):")
    for share in bff["by_self_time"][:20]:
        say(f"    {share['inclusive_pct']:5.1f}% {share['self_pct']:5.1f}%  {share['function']}")


def storm(run: Run, bff: stack.Process, cookie: str, bff_client: Any,
          auth_redis: stack.Process) -> None:
    size = run.args.storm_size
    say(f"refresh storm: {size} concurrent requests from one session whose token just expired")
    result = refresh_storm(bff.port, API_PATH, cookie, bff_client,
                           stack.redis_client(auth_redis), size)
    run.extra["refresh_storm"] = asdict(result)
    say(f"    refresh grants {result.refresh_grants} (target 1), failures {result.failures} "
        f"(target 0), statuses {result.statuses}, burst done in {result.completion_ms:.0f} ms, "
        f"session still works: {result.after_ok}")


def scale(run: Run, workdir: Path, bff: stack.Process, cookie: str, bff_client: Any,
          redis_url: str, secret_key: str, label: str) -> None:
    store = session_store(bff_config_path(workdir, bff.port), redis_url, secret_key)
    counts = sorted(int(c) for c in run.args.scale.split(",") if c.strip())
    planted: list[str] = []
    baseline_memory = int(bff_client.info("memory")["used_memory"])
    baseline_keys = int(bff_client.dbsize())
    figures: list[dict[str, Any]] = []
    for count in counts:
        say(f"scale: planting sessions up to {count:,} with SessionStore.create")
        began = time.monotonic()
        planted += plant_sessions(store, session_id_of(cookie), count - len(planted))
        took = time.monotonic() - began
        memory = int(bff_client.info("memory")["used_memory"]) - baseline_memory
        sample = write_cookie_file(workdir / f"sample-{count}.txt", planted, 10_000)
        row = run.load(f"BFF /api, {count:,} sessions", label, bff.url, API_PATH,
                       run.saturating, sample, Meter(bff.pid, bff_client))
        figures.append({"sessions": count, "rps": row.rps, "p50_ms": row.p50_ms,
                        "p99_ms": row.p99_ms, "cpu_ms_per_request": row.cpu_ms_per_request,
                        "redis_usec_per_getex": row.redis_usec_per_call.get("getex"),
                        "redis_bytes_per_session": round(memory / max(len(planted), 1)),
                        "keys": int(bff_client.dbsize()) - baseline_keys,
                        "plant_seconds": round(took, 1)})
        say(f"    {figures[-1]['redis_bytes_per_session']:,} bytes of Redis per session "
            f"(record and index entries); planted in {took:.1f}s; Redis spent "
            f"{figures[-1]['redis_usec_per_getex']} us per GETEX")
    run.extra["scale"] = figures


def bff_config_path(workdir: Path, port: int) -> Path:
    return workdir / f"bff-{port}.toml"


def logins(run: Run, bff: stack.Process, auth_redis: stack.Process) -> None:
    browsers = run.args.login_browsers
    say(f"login rate: complete logins from {browsers} fresh browsers at once")
    result = login_rate(f"{bff.url}/bff/login?returnUrl=/healthz", "bff", browsers,
                        run.args.seconds, max_logins=2000)
    run.extra["login_rate"] = {**asdict(result), "per_second": round(result.per_second, 2)}
    say(f"    {result.per_second:.1f} logins/s ({result.logins} in {result.seconds:.1f}s, "
        f"{result.failures} failed), p50 {result.p50_ms:.0f} ms, p99 {result.p99_ms:.0f} ms")


def bench_peer(run: Run, workdir: Path, port: int, issuer: str, upstream: stack.Process,
               workers: int) -> None:
    with stack.peer(workdir, port, issuer, upstream, workers) as peer:
        say(f"peer: express-openid-connect + http-proxy-middleware, {workers} node workers")
        cookie = log_in(f"{peer.url}/login", "appSession")
        cookie_file = workdir / "peer-session.txt"
        cookie_file.write_text(cookie + "\n")
        run.load("peer /api", f"node x{workers}", peer.url, API_PATH, run.saturating,
                 cookie_file, Meter(peer.pid))
        if "edge" in run.args.only:
            run.load("peer /api 1 MB", f"node x{workers}", peer.url, BIG_PATH, run.saturating,
                     cookie_file, Meter(peer.pid))
        if "moderate" in run.args.only:
            run.load("peer /api (moderate)", f"node x{workers}", peer.url, API_PATH,
                     run.moderate, cookie_file, Meter(peer.pid))


def finish(run: Run, specs: list[stack.ServerSpec]) -> None:
    from bench.targets import verdicts

    primary = specs[0].label
    checks = verdicts(run.rows, run.extra, f"gunicorn {primary}")
    document = {
        "name": run.args.name,
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "machine": run.extra.pop("machine_before"),
        "settings": {"seconds": run.args.seconds, "connections": run.args.connections,
                     "moderate_connections": run.args.moderate_connections,
                     "servers": [s.label for s in specs], "upstream": "nginx, 1 worker",
                     "load_generator": "wrk, 1 thread"},
        "rows": run.rows,
        **run.extra,
        "targets": checks,
    }
    json_path = RESULTS / f"{run.args.name}.json"
    png_path = RESULTS / f"{run.args.name}.png"
    report.write_json(json_path, document)
    cores = document["machine"]["cores"]
    report.chart(png_path, run.rows, f"bff bench {run.args.name}: {document['machine']['cpu']}, "
                 f"{cores} cores; wrk {run.args.seconds:g}s per load")
    say("")
    say(report.table(run.rows))
    say("")
    for check in checks:
        say(f"{'PASS' if check['met'] else 'MISS'}  {check['target']}: {check['measured']}")
    say("")
    say(f"wrote {json_path} and {png_path.name}")

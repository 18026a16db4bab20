"""The results of a run: rows, the table printed at the end, the JSON file and the PNG chart."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load import WrkResult

# Commands a client sends once per new connection, not per request: counted, shown, and kept
# apart from the per-request round trips of invariant 9.
CONNECTION_SETUP = frozenset({"hello", "ping", "select", "auth", "client|setinfo",
                              "client|setname"})


@dataclass(frozen=True)
class Row:
    """One load against one target: requests/s and latency percentiles, plus what it cost."""

    scenario: str
    target: str
    connections: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_ms_per_request: float | None = None
    redis_commands_per_request: float | None = None
    redis_setup_commands: int = 0
    redis_commands: dict[str, int] = field(default_factory=dict)
    worker_rss_mb: list[float] = field(default_factory=list)
    runs_rps: list[float] = field(default_factory=list)
    # CPU seconds of each process (master first, then workers) during the measured load: how
    # evenly the workers shared the connections.
    cpu_seconds_per_process: list[float] = field(default_factory=list)
    redis_usec_per_call: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_wrk(cls, scenario: str, target: str, connections: int, result: WrkResult,
                 cpu_seconds: float | None = None, commands: dict[str, int] | None = None,
                 rss: list[float] | None = None) -> Row:
        n = max(result.requests, 1)
        setup = sum(v for k, v in (commands or {}).items() if k in CONNECTION_SETUP)
        return cls(
            scenario=scenario, target=target, connections=connections, rps=round(result.rps, 1),
            p50_ms=round(result.p50_ms, 3), p90_ms=round(result.p90_ms, 3),
            p99_ms=round(result.p99_ms, 3), requests=result.requests, errors=result.failed,
            cpu_ms_per_request=None if cpu_seconds is None else round(cpu_seconds * 1000 / n, 4),
            redis_commands_per_request=None if commands is None
            else round((sum(commands.values()) - setup) / n, 3),
            redis_setup_commands=setup, redis_commands=commands or {}, worker_rss_mb=rss or [],
        )


def machine() -> dict[str, Any]:
    """What the figures were taken on, so that nobody compares them with another machine's."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "python": platform.python_version(),
        "load_average": os.getloadavg(), "tools": tool_versions(),
    }


def tool_versions() -> dict[str, str]:
    commands = {"wrk": ["wrk", "-v"], "nginx": ["nginx", "-v"],
                "redis-server": ["redis-server", "--version"], "node": ["node", "--version"]}
    found: dict[str, str] = {}
    for name, command in commands.items():
        if shutil.which(command[0]) is None:
            continue
        done = subprocess.run(command, capture_output=True, text=True)
        text = (done.stdout + done.stderr).strip().splitlines()
        found[name] = text[0] if text else ""
    return found


def table(rows: list[Row]) -> str:
    head = (f"{'scenario':<26} {'target':<22} {'conns':>5} {'req/s':>9} {'p50 ms':>8} "
            f"{'p90 ms':>8} {'p99 ms':>8} {'errors':>6} {'cpu ms/req':>10} {'redis/req':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        cpu = "" if r.cpu_ms_per_request is None else f"{r.cpu_ms_per_request:.3f}"
        cmds = "" if r.redis_commands_per_request is None else f"{r.redis_commands_per_request:.2f}"
        lines.append(f"{r.scenario:<26} {r.target:<22} {r.connections:>5} {r.rps:>9.0f} "
                     f"{r.p50_ms:>8.2f} {r.p90_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>6} "
                     f"{cpu:>10} {cmds:>9}")
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=_plain) + "\n")


def _plain(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[arg-type]
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def chart(path: Path, rows: list[Row], title: str) -> None:
    """Throughput and latency percentiles per scenario, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.scenario}\n{r.target} c={r.connections}" for r in rows]
    positions = list(range(len(rows)))
    fig, (left, right) = plt.subplots(1, 2, figsize=(16, max(4.5, 0.55 * len(rows) + 1.5)),
                                      sharey=True)
    left.barh(positions, [r.rps for r in rows], color="#3b6ea8")
    for y, r in zip(positions, rows, strict=True):
        left.text(r.rps, y, f" {r.rps:,.0f}", va="center", fontsize=8)
    spread = max(r.rps for r in rows) / max(min(r.rps for r in rows), 1.0)
    if spread > 20:
        left.set_xscale("log")
    left.set_xlabel("requests per second (higher is better)" +
                    (", log scale" if spread > 20 else ""))
    left.set_yticks(positions, labels, fontsize=8)
    left.invert_yaxis()
    height = 0.27
    for offset, (name, color) in enumerate(
            (("p50_ms", "#7fb77e"), ("p90_ms", "#f2b134"), ("p99_ms", "#d1495b"))):
        right.barh([p + (offset - 1) * height for p in positions],
                   [getattr(r, name) for r in rows], height=height, color=color,
                   label=name.replace("_ms", ""))
    right.set_xscale("log")
    right.set_xlabel("latency in ms, log scale (lower is better)")
    right.legend(loc="lower right")
    for axis in (left, right):
        axis.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(document: dict[str, Any]) -> str:
    """The run as Markdown for a README: machine, table, targets."""
    machine = document["machine"]
    lines = [
        f"Run `{document['name']}` of `bff/` at {str(document.get('bff_revision', '?'))[:12]}: "
        f"{machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, Linux "
        f"{machine['kernel']}, Python {machine['python']}; load average "
        f"{machine['load_average'][0]:.2f} at the start. Command: `{document['command']}`.",
        "",
        "| scenario | server | conns | req/s | p50 ms | p90 ms | p99 ms | errors | CPU ms/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in document["rows"]:
        cpu = "" if r["cpu_ms_per_request"] is None else f"{r['cpu_ms_per_request']:.2f}"
        lines.append(f"| {r['scenario']} | {r['target']} | {r['connections']} | {r['rps']:,.0f} "
                     f"| {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} "
                     f"| {r['errors']} | {cpu} |")
    lines += ["", *facts(document)]
    lines += ["", "| target | met | measured |", "|---|---|---|"]
    for check in document.get("targets", []):
        lines.append(f"| {check['target']} | {'yes' if check['met'] else '**no**'} "
                     f"| {check['measured']} |")
    return "\n".join(lines)


def facts(document: dict[str, Any]) -> list[str]:
    """The figures beside the table: hot path, storm, logins, memory, scale, CPU, RSS."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in document["rows"]:  # the first server setup's row: the primary one
        rows.setdefault((r["scenario"], r["target"].split(" ")[0]), r)
    out = ["| figure | value |", "|---|---|"]
    direct = next((r for r in document["rows"] if r["scenario"] == "direct"), None)
    if direct:
        out.append(f"| upstream ceiling | nginx answered wrk at {direct['rps']:,.0f} req/s "
                   f"(p99 {direct['p99_ms']:.2f} ms) |")
    hot = document.get("hot_path")
    if hot:
        out.append(f"| Redis per proxied request | {hot['redis_commands_per_request']:.3f} "
                   f"commands "
                   f"({', '.join(c for c in hot['redis_commands'] if c not in CONNECTION_SETUP)}"
                   f") over {hot['requests']:,} "
                   f"sequential requests, {hot['provider_requests']} provider requests |")
    storm = document.get("refresh_storm")
    if storm:
        out.append(f"| refresh storm | {storm['requests']} concurrent requests: "
                   f"{storm['refresh_grants']} refresh grant(s), {storm['failures']} failures, "
                   f"done {storm['completion_ms']:.0f} ms after release; session fine after: "
                   f"{storm['after_ok']} |")
    logins = document.get("login_rate")
    if logins:
        out.append(f"| login rate | {logins['per_second']:.1f} complete logins/s "
                   f"(p50 {logins['p50_ms']:.0f} ms, p99 {logins['p99_ms']:.0f} ms), "
                   f"{logins['failures']} failures |")
    record = document.get("session_record")
    if record:
        out.append(f"| Redis memory per session record | {record['MEMORY USAGE']:,} bytes "
                   f"(`MEMORY USAGE`; value {record['value bytes']:,} bytes, sealed tokens "
                   f"{record.get('field tok', 0):,}); index sets "
                   f"{record.get('MEMORY USAGE sub index', 0)} + "
                   f"{record.get('MEMORY USAGE sid index', 0)} bytes |")
    for level in document.get("scale", []):
        out.append(f"| {level['sessions']:,} live sessions | {level['rps']:,.0f} req/s, "
                   f"{level['cpu_ms_per_request']:.2f} ms CPU/request, Redis "
                   f"{level['redis_usec_per_getex']} us per GETEX, "
                   f"{level['redis_bytes_per_session']:,} bytes of Redis per session |")
    for key, name in ((("BFF /api", "gunicorn"), "BFF"), (("bare proxy", "gunicorn"), "bare proxy"),
                      (("peer /api", "node"), "Node.js peer")):
        row = rows.get(key)
        if row:
            out.append(f"| {name} | {row['cpu_ms_per_request']:.2f} ms CPU per request, "
                       f"{', '.join(f'{m:.0f}' for m in row['worker_rss_mb'])} MB resident per "
                       "worker |")
    return out


if __name__ == "__main__":
    import sys

    print(markdown(json.loads(Path(sys.argv[1]).read_text())))

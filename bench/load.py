"""Bounded loads with wrk, and what the servers spent on them (CPU, memory, Redis commands)."""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

LUA = Path(__file__).resolve().parent / "wrk" / "requests.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


class LoadError(RuntimeError):
    pass


@dataclass(frozen=True)
class Load:
    """wrk's connections for a time; with ``pace_ms``, each connection waits that long between
    requests (an offered rate, not as fast as the server answers)."""

    connections: int
    seconds: float
    pace_ms: int = 0
    threads: int = 1


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def run_wrk(url: str, path: str, load: Load, cookie_file: Path | None = None) -> WrkResult:
    """One wrk run: fixed connections, fixed duration (whole seconds, wrk's unit), a hard
    wall-clock cap on top."""
    args = ["wrk", "-t", str(load.threads), "-c", str(load.connections),
            "-d", f"{math.ceil(load.seconds)}s", "--timeout", "5s", "-s", str(LUA), url, "--", path,
            str(cookie_file) if cookie_file else "", str(load.pace_ms)]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=load.seconds + 30)
    except subprocess.TimeoutExpired as exc:
        raise LoadError(f"wrk did not finish: {' '.join(args)}") from exc
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise LoadError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return WrkResult(
        requests=raw["requests"], seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000, p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000, max_ms=raw["max_us"] / 1000, errors=raw["errors"],
    )


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (gunicorn's master and workers, node's cluster)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * PAGE_KB / 1024


def command_counts(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def command_usec(client: redis.Redis) -> dict[str, int]:
    """Microseconds Redis spent executing each command so far: its own cost, which no load on
    the client side can blur."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["usec"]) for name, v in stats.items()}


@dataclass
class Meter:
    """CPU of a process tree and Redis commands, from before a load to after it."""

    root_pid: int | None = None
    redis_client: redis.Redis | None = None
    _cpu: float = 0.0
    _commands: dict[str, int] = field(default_factory=dict)
    _usec: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        if self.root_pid is not None:
            self._cpu = cpu_seconds(process_tree(self.root_pid))
        if self.redis_client is not None:
            self._commands = command_counts(self.redis_client)
            self._usec = command_usec(self.redis_client)

    def cpu_split(self) -> list[float]:
        """CPU seconds so far of each process of the tree: how evenly the workers share work."""
        if self.root_pid is None:
            return []
        return [round(cpu_seconds([pid]), 2) for pid in process_tree(self.root_pid)]

    def cpu_used(self) -> float:
        if self.root_pid is None:
            return 0.0
        return cpu_seconds(process_tree(self.root_pid)) - self._cpu

    def commands_used(self) -> dict[str, int]:
        if self.redis_client is None:
            return {}
        after = command_counts(self.redis_client)
        # INFO itself is counted; it is the meter's, not the load's.
        delta = {k: v - self._commands.get(k, 0) for k, v in after.items() if k != "info"}
        return {k: v for k, v in delta.items() if v}

    def usec_per_call(self, calls: dict[str, int]) -> dict[str, float]:
        """Redis's own execution time per call of each command during the load."""
        if self.redis_client is None:
            return {}
        after = command_usec(self.redis_client)
        return {name: round((after.get(name, 0) - self._usec.get(name, 0)) / n, 2)
                for name, n in calls.items() if n}

    def worker_rss_mb(self) -> list[float]:
        if self.root_pid is None:
            return []
        return [round(rss_mb(pid), 1) for pid in process_tree(self.root_pid)[1:]] or \
            [round(rss_mb(self.root_pid), 1)]

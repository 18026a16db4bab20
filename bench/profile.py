"""Where a BFF worker's time goes under load: py-spy samples summarised per function."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Share:
    function: str
    inclusive_pct: float
    self_pct: float


# Buckets for "what costs what". A sample belongs to the first library bucket found anywhere in
# its stack (a log call made by the proxy counts as logging, a Redis call made by the session
# store as Redis); failing that, to the innermost frame's layer (BFF code, Flask, gunicorn).
LIBRARIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("logging (access and audit lines, redaction)", ("logging/",)),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("Redis (redis-py: the session read)", ("redis/",)),
    ("token decryption and record decoding", ("bff/sealing.py", "cryptography/", "json/")),
    ("upstream HTTP (urllib3, http.client)", ("urllib3/", "http/client.py")),
)
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("BFF's own code (checks, routing, headers)", ("bff/",)),
    ("Flask and Werkzeug (request, response)", ("flask/", "werkzeug/")),
    ("gunicorn (HTTP parsing, worker loop)", ("gunicorn/",)),
)


RATE = 200  # samples per second and process


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_recording(pid: int, seconds: float, output: Path) -> subprocess.Popen:
    """Sample one process without pausing it, only the thread holding the GIL: the samples
    then add up to the CPU time the interpreter spends, attributed to the code spending it."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is missing: pip install -e '.[bench]'")
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(RATE),
         "--nonblocking", "--gil", "--format", "raw", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@dataclass(frozen=True)
class Summary:
    samples: int
    categories: dict[str, float]
    functions: list[Share]
    by_self_time: list[Share]


def summarise(collapsed: Path, top: int = 40) -> Summary:
    """Shares per category and per function (inclusive and self), from collapsed stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or not stack:
            continue
        count = int(count_text)
        frames = [_name(frame) for frame in stack.split(";")]
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
        buckets[_category(stack)] += count
    if not total:
        return Summary(0, {}, [], [])
    return Summary(
        samples=total,
        categories={name: round(100 * n / total, 1) for name, n in buckets.most_common()},
        functions=[Share(name, round(100 * n / total, 1), round(100 * own[name] / total, 1))
                   for name, n in inclusive.most_common(top)],
        by_self_time=[Share(name, round(100 * inclusive[name] / total, 1),
                            round(100 * n / total, 1)) for name, n in own.most_common(top)],
    )


def _category(stack: str) -> str:
    for name, markers in LIBRARIES:
        if any(marker in stack for marker in markers):
            return name
    for frame in reversed(stack.split(";")):
        for name, markers in LAYERS:
            if any(marker in frame for marker in markers):
                return name
    return "other (threads, sockets, interpreter)"


def _name(frame: str) -> str:
    """``func (path/to/module.py:12)`` becomes ``module.py:func``, short enough to read."""
    function, _, where = frame.partition(" (")
    filename = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(filename).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else filename
    return f"{short}:{function}"

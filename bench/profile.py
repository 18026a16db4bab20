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
        [binary, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200",
         "--nonblocking", "--gil", "--format", "raw", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def summarise(collapsed: Path, top: int = 45) -> tuple[int, list[Share]]:
    """Inclusive and self share of each function, from py-spy's collapsed stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(frame) for frame in stack.split(";")]
        if not frames or "wait (threading" in stack and "select" in frames[-1]:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    shares = [Share(name, round(100 * n / total, 1), round(100 * own[name] / total, 1))
              for name, n in inclusive.most_common(top)] if total else []
    return total, shares


def _name(frame: str) -> str:
    """``func (path/to/module.py:12)`` becomes ``module.py:func``, short enough to read."""
    function, _, where = frame.partition(" (")
    filename = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(filename).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else filename
    return f"{short}:{function}"

"""Node.js peers for the interoperability suite: each lives in its own folder under
tests/interop with a pinned package-lock.json, installed with ``npm ci`` the first time a test
needs it (the npm registry must be reachable then)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

INTEROP = Path(__file__).resolve().parent


def npm_installed(folder: str) -> Path:
    """The peer's folder, its node_modules installed from the lock file."""
    path = INTEROP / folder
    if not (path / "node_modules").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is missing: apt-get install npm (see .ci/run)")
        result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=path,
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"npm ci in {path} failed (is the npm registry reachable?):\n"
                               f"{result.stderr[-2000:]}")
    return path


class LineDriver:
    """A Node.js script that answers one JSON request per line."""

    def __init__(self, folder: Path, script: str) -> None:
        self._process = subprocess.Popen(
            ["node", script], cwd=folder, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)

    def call(self, op: str, **request: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"op": op, **request}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            stderr = self._process.stderr.read() if self._process.stderr else ""
            raise RuntimeError(f"the Node.js driver exited:\n{stderr[-2000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

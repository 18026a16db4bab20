"""The edge pieces the forward-auth tests share: a WebSocket echo upstream and nginx running
deploy/edge/nginx.conf as shipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.sync.server import Server, ServerConnection, serve

from bff.processes import free_port, stop, wait_for_port
from tests.support import ROOT


class EchoSocket:
    """A WebSocket upstream: first says which headers it received, then echoes messages."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: Server = serve(self._handle, "127.0.0.1", free_port())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        host, port = self.server.socket.getsockname()[:2]
        return f"{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()

    def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        assert connection.request is not None
        connection.send(json.dumps({"path": connection.request.path,
                                    "headers": dict(connection.request.headers.raw_items())}))
        for message in connection:
            connection.send(message)


@contextmanager
def shipped_nginx(port: int, bff: str, upstream: str) -> Iterator[str]:
    """deploy/edge/nginx.conf on ``port``, in front of ``bff`` and ``upstream`` (host:port)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is missing: apt-get install nginx-light (see .ci/run)")
    directory = Path(tempfile.mkdtemp(prefix="bff-test-edge-"))
    # Started as root, nginx writes request bodies to its temp dirs as an unprivileged user.
    directory.chmod(0o755)
    config = directory / "nginx.conf"
    config.write_text((ROOT / "deploy" / "edge" / "nginx.conf").read_text()
                      .replace("@PORT@", str(port)).replace("@BFF@", bff)
                      .replace("@UPSTREAM@", upstream).replace("@DIR@", str(directory)))
    proc = subprocess.Popen([binary, "-c", str(config), "-p", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "nginx")
        yield f"localhost:{port}"
    finally:
        stop(proc)

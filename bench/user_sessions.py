"""How listing and ending one user's sessions scales with their number (issue 18: bounded by
the user's session count, never a keyspace scan). A private redis-server, sessions written
through the real store, the real listing and the real end-of-session path; sessions hold no
refresh token, so no provider call is timed.

    python -m bench.user_sessions [--counts 10,100,1000]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import tempfile
import time
from pathlib import Path

from bff.app import create_app
from bff.endpoints import end_session
from bff.processes import free_port, redis_server_command, stop, wait_for_port
from bff.sansio.refresh import TokenSet
from bff.settings import build_settings, generate_secret_key
from bff.user_sessions import sessions_of


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100,1000")
    counts = [int(c) for c in parser.parse_args().counts.split(",")]
    logging.disable(logging.WARNING)
    port, directory = free_port(), Path(tempfile.mkdtemp(prefix="bff-bench-sessions-"))
    proc = subprocess.Popen(redis_server_command("redis-server", port, directory),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc, "redis-server")
        app = create_app(build_settings({
            "base_url": "http://localhost:8000", "issuer": "http://127.0.0.1:9",
            "client_id": "bench", "client_secret": "bench", "secret_keys": generate_secret_key(),
            "redis_url": f"redis://127.0.0.1:{port}/0"}))
        store = app.extensions["bff"].store
        print(f"{'sessions':>8}  {'list ms':>8}  {'end all ms':>10}  {'per session us':>14}")
        for count in counts:
            sub, now = f"user-{count}", time.time()
            for _ in range(count):
                store.create(TokenSet("a", None, now + 300, now, ("openid",)), sub=sub,
                             sid=None, claims={})
            with app.app_context():
                started = time.perf_counter()
                listed = sessions_of(sub)
                listed_at = time.perf_counter()
                for session in listed:
                    end_session(session, "bench")
                ended_at = time.perf_counter()
                assert len(listed) == count and not sessions_of(sub)
            print(f"{count:>8}  {(listed_at - started) * 1000:>8.1f}  "
                  f"{(ended_at - listed_at) * 1000:>10.1f}  "
                  f"{(ended_at - started) / count * 1e6:>14.0f}")
    finally:
        stop(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m bench``: start everything on localhost, run bounded loads, stop, report.

This module imports nothing from ``bff``: by default it extracts ``bff/`` as committed (``--ref``)
and runs the benchmark in a child process that imports that copy, so a file someone is editing
cannot break or blur the figures. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_ENV = "BENCH_SNAPSHOT_OF"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--name", default=time.strftime("run-%Y%m%d-%H%M%S"),
                        help="results go to bench/results/NAME.json and NAME.png")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load")
    parser.add_argument("--connections", type=int, default=32,
                        help="concurrent connections of the saturating loads")
    parser.add_argument("--moderate-connections", type=int, default=8,
                        help="connections of the moderate loads, where latency is compared")
    parser.add_argument("--moderate-pace-ms", type=int, default=20,
                        help="pause of each moderate-load connection between requests: at most "
                             "connections * 1000 / pace requests per second are offered")
    parser.add_argument("--servers", default="default",
                        help="comma-separated gunicorn setups to compare for bare proxy and BFF: "
                             "'default' (config/gunicorn.conf.py) or CLASS/WORKERS/THREADS, "
                             "e.g. default,gevent/2/256; the first one runs every scenario")
    parser.add_argument("--scale", default="1000,100000",
                        help="live-session counts for the scale scenario (add 1000000 if Redis "
                             "has ~4.5 GB to spare)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"scenarios to run, from {','.join(SCENARIOS)}")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measured runs per load; the median by throughput is reported")
    parser.add_argument("--storm-size", type=int, default=100)
    parser.add_argument("--login-browsers", type=int, default=4)
    parser.add_argument("--profile", action="store_true",
                        help="sample the BFF's workers with py-spy during an extra /api load")
    parser.add_argument("--variants", default="",
                        help="also run BFF /api on variants from bench/variants.py, each with "
                             "one cost taken away (e.g. quiet-logs,plain-logs)")
    parser.add_argument("--ref", default="HEAD",
                        help="git revision of bff/ to measure (default HEAD: committed code, not "
                             "files someone is editing); 'worktree' measures the files as they are")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="LOAD",
                        help="first wait (up to 30 minutes) until the 1-minute load average is "
                             "below LOAD, so that neighbours' work does not blur the figures")
    parser.add_argument("--install", action="store_true",
                        help="install missing Debian packages with apt-get (as root) and the "
                             "peer's npm packages with npm ci")
    return parser.parse_args(argv)


def rerun_on_snapshot(args: argparse.Namespace, argv: list[str]) -> int:
    """Extract ``bff/`` at ``--ref`` and run this command again with it first on PYTHONPATH,
    so every process (the harness, the BFF's workers, the authorization server) imports it."""
    resolved = subprocess.run(["git", "rev-parse", "--verify", f"{args.ref}^{{commit}}"],
                              cwd=ROOT, capture_output=True, text=True)
    if resolved.returncode != 0:
        raise SystemExit(f"bench: --ref {args.ref!r} is not a git revision of {ROOT}")
    commit = resolved.stdout.strip()
    snapshot = Path(tempfile.mkdtemp(prefix=f"bff-bench-{commit[:12]}-"))
    try:
        archive = subprocess.run(["git", "archive", commit, "bff"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(snapshot)], input=archive, check=True)
        path = [str(snapshot), str(ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, SNAPSHOT_ENV: commit,
               "PYTHONPATH": os.pathsep.join(p for p in path if p)}
        print(f"bench: measuring bff/ as committed at {args.ref} ({commit[:12]})", flush=True)
        named = argv if "--name" in argv else [*argv, "--name", args.name]
        # From the snapshot: ``python -m`` puts its working directory first on sys.path.
        return subprocess.run([sys.executable, "-m", "bench", *named], env=env,
                              cwd=snapshot).returncode
    finally:
        shutil.rmtree(snapshot, ignore_errors=True)


def wait_until_quiet(threshold: float, limit: float = 1800.0) -> None:
    deadline = time.monotonic() + limit
    while os.getloadavg()[0] >= threshold and time.monotonic() < deadline:
        print(f"bench: load average {os.getloadavg()[0]:.2f}, waiting for < {threshold:g}",
              flush=True)
        time.sleep(30)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.wait_quiet and SNAPSHOT_ENV not in os.environ:
        wait_until_quiet(args.wait_quiet)
    if args.ref != "worktree" and SNAPSHOT_ENV not in os.environ:
        return rerun_on_snapshot(args, argv)
    from bench.run import main as run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())

"""Production gunicorn settings for the BFF.

    gunicorn -c config/gunicorn.conf.py "bff.app:create_app()"

The worker setup was chosen by measurement (bench/README.md, "Choosing the server"): gevent
workers, one per core. A proxied request spends most of its life waiting on Redis and on the
upstream; gevent waits on both without an OS thread per request, so a worker's interpreter is
never fought over by its own threads (with gunicorn's threaded workers at 16 threads, a third of
the interpreter's time went to logging, much of it around the log handler's lock). gevent needs the
``production`` extra (``pip install 'bff[production]'``). Without it this file refuses to start:
threaded workers are starved by a few dozen slow clients (each holds a thread for as long as it
takes to send its headers), so falling back silently would ship a setup that was never measured.
An operator who wants another worker class says so with ``BFF_WORKER_CLASS``. Every value can be
overridden by an environment variable here, or by gunicorn's own flags on the command line.
"""

from __future__ import annotations

import importlib.util
import os
import sys

bind = os.environ.get("BFF_BIND", "0.0.0.0:8000")
worker_class = os.environ.get("BFF_WORKER_CLASS") or "gevent"
if worker_class == "gevent" and (importlib.util.find_spec("gevent") is None
                                 or importlib.util.find_spec("packaging") is None):
    print(
        "bff: ERROR: gevent workers are not installed, and threaded workers are starved by a few "
        "dozen slow clients. Install them with: pip install 'bff[production]'. "
        "(To run another worker class anyway, set BFF_WORKER_CLASS, e.g. gthread.)",
        file=sys.stderr, flush=True,
    )
    raise SystemExit(1)
# The cores this process may run on (a container's cpuset), not the host's count.
workers = int(os.environ.get("BFF_WORKERS", len(os.sched_getaffinity(0))))
# gevent: concurrent connections per worker. gthread (when chosen instead): threads per worker.
worker_connections = int(os.environ.get("BFF_WORKER_CONNECTIONS", "1000"))
threads = int(os.environ.get("BFF_THREADS", "16"))
# Browsers and load balancers reuse connections; closing them after 2 s (gunicorn's default)
# makes clients pay a new TCP handshake after every pause longer than that.
keepalive = int(os.environ.get("BFF_KEEPALIVE", "75"))
# Longer than the longest route read timeout, so a slow upstream ends in a 504, not a killed worker.
timeout = int(os.environ.get("BFF_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
backlog = 2048
accesslog = os.environ.get("BFF_ACCESS_LOG") or None

"""Production gunicorn settings for the BFF.

    gunicorn -c config/gunicorn.conf.py "bff.app:create_app()"


The worker setup was chosen by measurement (bench/README.md, "Choosing the server"). Each value can
be overridden by an environment variable here, or by gunicorn's own flags on the command line.
"""

from __future__ import annotations

import multiprocessing
import os

bind = os.environ.get("BFF_BIND", "0.0.0.0:8000")
worker_class = os.environ.get("BFF_WORKER_CLASS", "gthread")
workers = int(os.environ.get("BFF_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("BFF_THREADS", "16"))
worker_connections = int(os.environ.get("BFF_WORKER_CONNECTIONS", "1000"))
# Browsers and load balancers reuse connections; closing them after 2 s (gunicorn's default)
# makes clients pay a new TCP handshake on every pause longer than that.
keepalive = int(os.environ.get("BFF_KEEPALIVE", "75"))
# Longer than the longest route read timeout, so a slow upstream ends in a 504, not a killed worker.
timeout = int(os.environ.get("BFF_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
backlog = 2048
accesslog = os.environ.get("BFF_ACCESS_LOG") or None

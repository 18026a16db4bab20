"""The BFF with one cost taken away, to measure what a proposed change would gain.

Each variant is ``create_app()`` followed by a small runtime adjustment, never an edit of ``bff/``:
the figures tell the owners of ``bff/`` what a change is worth before anyone makes it. Run them
with ``python -m bench --variants quiet-logs,plain-logs``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from flask import Flask

from bff.app import create_app


def _quiet_logs(app: Flask) -> None:
    """No per-request log lines (access and audit): what two lines per request cost."""
    for name in ("bff.access", "bff.audit"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _plain_logs(app: Flask) -> None:
    """The same lines without the redaction filter and formatter: what redaction costs."""
    for handler in logging.getLogger().handlers:
        for log_filter in list(handler.filters):
            handler.removeFilter(log_filter)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))


VARIANTS: dict[str, Callable[[Flask], None]] = {
    "quiet-logs": _quiet_logs,
    "plain-logs": _plain_logs,
}


def create_variant() -> Flask:
    """The app for ``BENCH_VARIANT`` (a name from ``VARIANTS``)."""
    app = create_app()
    VARIANTS[os.environ["BENCH_VARIANT"]](app)
    return app

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


# Every secret pattern of bff.logs's redaction contains one of these, lower-cased; a line
# with none of them cannot match, so the regular expression need not run over it.
SECRET_HINTS = ("eyj", "token", "code", "secret", "password", "bearer", "basic", "bff=",
                "bff_login=")


def _fast_redact(app: Flask) -> None:
    """Redaction that skips its regular expression when no secret pattern can match: the change
    proposed for ``bff.logs.redact``."""
    from bff import logs

    full = logs.redact

    def redact(text: str) -> str:
        lowered = text.lower()
        if not any(hint in lowered for hint in SECRET_HINTS):
            return text
        return full(text)

    logs.redact = redact


class _NotProxied(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(getattr(record, "path", "")).startswith("/api/")


def _one_line(app: Flask) -> None:
    """One log line per proxied request: the audit line, without the access line that repeats
    its method, path, status and duration."""
    logging.getLogger("bff.access").addFilter(_NotProxied())


def _proposed(app: Flask) -> None:
    """Both log changes proposed to the owners of bff/: fast redaction and one line per
    proxied request."""
    _fast_redact(app)
    _one_line(app)


VARIANTS: dict[str, Callable[[Flask], None]] = {
    "quiet-logs": _quiet_logs,
    "plain-logs": _plain_logs,
    "fast-redact": _fast_redact,
    "one-line": _one_line,
    "proposed": _proposed,
}


def create_variant() -> Flask:
    """The app for ``BENCH_VARIANT`` (a name from ``VARIANTS``)."""
    app = create_app()
    VARIANTS[os.environ["BENCH_VARIANT"]](app)
    return app

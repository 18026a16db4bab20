"""Log lines: request ids, redaction, escaping, and the text and JSON formats.

Every request gets one id, taken from a well-formed incoming ``X-Request-ID`` or made here. It is
written back into the WSGI environ before Flask sees the request, so the proxy forwards this same
id upstream, and it is in the response's ``X-Request-ID`` and every log line written while the
request runs, its streamed body included. Every record passes through :func:`redact` and
:func:`escape_controls` before any formatter writes it (ours, gunicorn's or werkzeug's):
no token, code, secret or cookie is written, and no client value can start a line of its own.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from bff.sansio.proxy_rules import REQUEST_ID

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms")

_SECRETS = re.compile(
    r"(eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*)"
    r"|((?:access_token|refresh_token|id_token|code|client_secret|logout_token|code_verifier|"
    r"password)=)[^&\s\"']+"
    r"|((?:\"(?:access_token|refresh_token|id_token|client_secret|password)\"\s*:\s*\"))"
    r"[^\"]+"
    r"|((?:Bearer|Basic)\s+)[\w\-.~+/=]+"
    r"|((?:__Host-bff|bff|bff_login)=)[^;\s\"']+",
    re.IGNORECASE,
)


# Every alternative of _SECRETS contains one of these (case-insensitively); a line holding none
# of them skips the regular expression, the hottest function of a proxied request (bench/).
# A formatted line always names its logger (``bff.audit``), so the cookie marker is ``bff=``.
_SECRET_MARKERS = ("eyj", "token", "code", "secret", "password", "bearer", "basic", "bff=",
                   "bff_login=")


def _mask(match: re.Match[str]) -> str:
    prefix = next((g for g in match.groups()[1:] if g), "")
    return f"{prefix}[redacted]"


def redact(text: str) -> str:
    """Mask JWTs, token parameters and fields, bearer credentials and our cookies."""
    lowered = text.lower()
    if not any(marker in lowered for marker in _SECRET_MARKERS):
        return text
    return _SECRETS.sub(_mask, text)


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """One log record, one line: CR, LF, other control characters, Unicode line and paragraph
    separators and format characters (bidi overrides) become visible escapes, so no value a
    client sent can start a line of its own that looks like ours (invariant 12)."""
    if text.isprintable():
        return text
    return "".join(
        _NAMED_ESCAPES.get(ch) or (ch if ch.isprintable() or ch == " " else
                                   f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        for ch in text
    )


_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("bff_request_id", default="-")


def current_request_id() -> str:
    """The id of the request this thread is serving, its streamed body included; else ``-``."""
    return _request_id.get()


class RedactingFilter(logging.Filter):
    """Masks secrets in the message of every record that passes, escapes its control characters
    (whichever formatter writes it: ours, gunicorn's, werkzeug's), and stamps the request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escape_controls(redact(record.getMessage()))
        record.args = None
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class RedactingFormatter(logging.Formatter):
    """Text lines; the whole line, traceback included, is redacted after formatting. A
    traceback's lines are indented and escaped, so none of them can pass for a record."""

    def format(self, record: logging.LogRecord) -> str:
        first, *rest = redact(super().format(record)).split("\n")
        return "\n".join([first, *(f"    {escape_controls(line)}" for line in rest)])


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message, access fields.
    Each text field is redacted before it is encoded, so the line stays valid JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps({k: redact(v) if isinstance(v, str) else v for k, v in entry.items()},
                          default=str)


class _BffHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler the BFF adds to the root logger when nobody configured logging."""


def configure_logging(log_format: str) -> None:
    """Text or JSON lines on stderr, redacted, with request ids; idempotent.

    Like ``logging.basicConfig`` it adds a handler only when the root logger has none (gunicorn
    and test runners bring their own); every root handler still gets the redacting filter.
    """
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(_BffHandler())
        root.setLevel(logging.INFO)
    for handler in root.handlers:
        if isinstance(handler, _BffHandler):
            handler.setFormatter(JsonFormatter() if log_format == "json"
                                 else RedactingFormatter(TEXT_FORMAT))
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


class RequestIdMiddleware:
    """Puts a well-formed ``X-Request-ID`` into the environ before anything reads it, and keeps
    it current for this thread until the response body is closed: lines logged while a proxied
    body streams (after Flask's request context is gone) still carry it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        incoming = str(environ.get("HTTP_X_REQUEST_ID", ""))
        if not REQUEST_ID.fullmatch(incoming):
            incoming = environ["HTTP_X_REQUEST_ID"] = secrets.token_hex(8)
        _request_id.set(incoming)
        try:
            return ClosingBody(self._app(environ, start_response),
                               lambda: _request_id.set("-"))
        except BaseException:
            _request_id.set("-")
            raise


class ClosingBody:
    """A WSGI response body that calls ``on_close`` once, when the server closes it: the end
    of a request, streamed bodies included."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], object]) -> None:
        self._body = body
        self._on_close: Callable[[], object] | None = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()

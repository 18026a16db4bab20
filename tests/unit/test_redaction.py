"""Log redaction: whatever a log line carries, tokens, codes, credentials and our cookies are
masked before it is written, tracebacks included."""

from __future__ import annotations

import contextvars
import json
import logging

import pytest

from bff.observability import JsonFormatter, RedactingFilter, RedactingFormatter, redact

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(("line", "secret"), [
    (f"token is {JWT} here", JWT),
    ("GET /bff/callback?code=abc123XYZ&state=s1 HTTP/1.1", "abc123XYZ"),
    ("grant_type=refresh_token&refresh_token=r3fr3sh-t0ken", "r3fr3sh-t0ken"),
    ("client_secret=demo-secret&client_id=bff", "demo-secret"),
    ("code_verifier=v3rifier-value", "v3rifier-value"),
    ("logout_token=opaque-logout", "opaque-logout"),
    ("Authorization: Bearer opaque.access-token_value", "opaque.access-token_value"),
    ("Authorization: Basic YmZmOnNlY3JldA==", "YmZmOnNlY3JldA=="),
    ("Cookie: bff=SeSsIoN-iD-value; theme=dark", "SeSsIoN-iD-value"),
    ("Cookie: __Host-bff=SeSsIoN-iD-value", "SeSsIoN-iD-value"),
    ("Cookie: bff_login=b1nd1ng", "b1nd1ng"),
    ('{"access_token": "opaque-at", "expires_in": 300}', "opaque-at"),
    ('{"refresh_token":"opaque-rt"}', "opaque-rt"),
    ("password=wonderland&username=alice", "wonderland"),
])
def test_secrets_are_masked(line: str, secret: str) -> None:
    masked = redact(line)
    assert secret not in masked
    assert "[redacted]" in masked


def test_harmless_text_is_left_alone() -> None:
    line = "proxy method=GET route=/api/orders status=200 duration_ms=12.5 sub=alice"
    assert redact(line) == line
    assert redact("theme=dark; lang=en") == "theme=dark; lang=en"


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("bff.test", logging.ERROR, __file__, 1, message, args, exc_info)


def test_filter_masks_arguments_and_stamps_a_request_id() -> None:
    entry = record("refresh with %s failed", f"refresh_token={JWT}")
    # A fresh context: outside any request, whatever in-process app tests ran before.
    assert contextvars.Context().run(RedactingFilter().filter, entry)
    assert JWT not in entry.getMessage()
    assert entry.request_id == "-"


def failing() -> BaseException:
    try:
        raise ValueError(f"provider said access_token={JWT}")
    except ValueError as exc:
        return exc


def test_text_formatter_masks_tracebacks() -> None:
    text = RedactingFormatter("%(message)s").format(record("boom", exc=failing()))
    assert "Traceback" in text
    assert JWT not in text


def test_json_lines_carry_fields_and_mask_tracebacks() -> None:
    entry = record("GET %s", "/api/orders", exc=failing())
    entry.request_id = "abc"
    entry.status = 502
    line = JsonFormatter().format(entry)
    parsed = json.loads(line)
    assert parsed["request_id"] == "abc"
    assert parsed["message"] == "GET /api/orders"
    assert parsed["status"] == 502
    assert parsed["level"] == "ERROR"
    assert "ValueError" in parsed["exception"]
    assert JWT not in line


@pytest.mark.parametrize("line", [
    "callback CODE=abc123def&state=x", "Authorization: BEARER abc.def", "BASIC dXNlcjpwYXNz",
    "cookie __HOST-BFF=sessionvalue", "got EYJhbGciOiJSUzI1NiJ9.EYJzdWIiOiJhbGljZSJ9.sig",
])
def test_secrets_in_any_letter_case_are_redacted(line: str) -> None:
    assert "[redacted]" in redact(line)


def test_a_line_without_secrets_is_returned_unchanged() -> None:
    line = "proxy method=GET route=/api/orders status=200 sub=alice"
    assert redact(line) is line

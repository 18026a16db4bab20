"""Log redaction: whatever a log line carries, tokens, codes, credentials and our cookies are
masked before it is written, tracebacks included."""

from __future__ import annotations

import contextvars
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bff.logs import _SECRETS, JsonFormatter, RedactingFilter, RedactingFormatter, _mask, redact

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


SECRET_SHAPES = st.sampled_from([
    JWT, "eyJabcdefgh.ijklmnopq.r", "code=", "CODE=x", "access_token=", "Bearer x", "basic y",
    "bff=", "__Host-BFF=v", "bff_login=", "BFF_LOGIN=z", '"password": "p"', "client_secret=",
    "bff.audit", "bff_", "=",
])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), SECRET_SHAPES), max_size=8).map("".join))
def test_the_fast_path_never_skips_a_line_the_pattern_would_mask(line: str) -> None:
    """``redact`` returns a line untouched when it holds none of the markers; the markers are
    complete when that shortcut always agrees with the full pattern."""
    assert redact(line) == _SECRETS.sub(_mask, line)


FORGED = "/x\n2026-11-30 13:30:00,000 INFO bff.endpoints [0123456789abcdef] login sub=admin"


@pytest.mark.parametrize("separator", ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029", "\x0b",
                                       "\x0c", "\x1c", "\x1d", "\x1e"])
def test_a_forged_log_line_stays_inside_the_line_that_carries_it(separator: str) -> None:
    formatter = RedactingFormatter("%(levelname)s %(name)s [%(request_id)s] %(message)s")
    entry = record("GET %s %d", FORGED.replace("\n", separator), 404)
    RedactingFilter().filter(entry)
    line = formatter.format(entry)
    assert len(line.splitlines()) == 1
    assert "login sub=admin" in line


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_any_client_value_makes_exactly_one_text_line_and_valid_json(message: str,
                                                                     argument: str) -> None:
    entry = record(message.replace("%", "%%") + " %s", argument)
    RedactingFilter().filter(entry)
    text = RedactingFormatter("%(levelname)s [%(request_id)s] %(message)s").format(entry)
    assert len(text.splitlines()) == 1
    assert all(ch.isprintable() or ch == " " for ch in text)
    parsed = json.loads(JsonFormatter().format(entry))
    assert parsed["message"] == entry.getMessage()


def test_a_traceback_cannot_pass_for_a_record_of_its_own() -> None:
    try:
        raise ValueError(FORGED)
    except ValueError as exc:
        entry = record("request failed", exc=exc)
    RedactingFilter().filter(entry)
    lines = RedactingFormatter("%(levelname)s %(message)s").format(entry).split("\n")
    assert lines[0] == "ERROR request failed"
    assert all(line.startswith("    ") for line in lines[1:])

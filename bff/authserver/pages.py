"""The few HTML pages a person sees at the provider. Jinja autoescapes every value."""

from __future__ import annotations

from flask import render_template_string
from markupsafe import Markup

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · bff reference authorization server</title>
<style>
body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;display:flex;
justify-content:center;padding-top:8vh}
main{background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px #0002;
min-width:18rem;max-width:28rem}
label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem;
box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1.2rem}
.error{color:#a40000;background:#fde8e8;padding:.5rem .8rem;border-radius:4px}
</style></head><body><main>{{ body }}</main></body></html>"""

_LOGIN = """<h1>Sign in</h1>
<p>to continue to <strong>{{ client_id }}</strong></p>
{% if error %}<p class="error" role="alert" id="login-error">{{ error }}</p>{% endif %}
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<label>Username <input name="username" autocomplete="username" value="{{ username }}"
 required autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"
 required></label>
<button type="submit">Sign in</button>
</form>"""

_ERROR = """<h1>{{ title }}</h1>
<p class="error" role="alert">{{ description }}</p>
<p><small>Error code: <code>{{ error }}</code></small></p>"""

_LOGOUT_CONFIRM = """<h1>Sign out?</h1>
<p>Sign out of the authorization server{% if client_id %} (requested by
<strong>{{ client_id }}</strong>){% endif %}?</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="csrf_token" value="{{ csrf_token }}">
<button type="submit">Sign out</button>
</form>"""

_LOGGED_OUT = """<h1>You are logged out</h1>
<p>You have been signed out of the authorization server. You may close this window.</p>"""


def _page(page_title: str, body_template: str, **context: object) -> str:
    body = Markup(render_template_string(body_template, **context))  # already escaped
    return render_template_string(_LAYOUT, title=page_title, body=body)


def login_page(*, client_id: str, action: str, csrf_token: str, username: str = "",
               error: str = "") -> str:
    return _page("Sign in", _LOGIN, client_id=client_id, action=action, csrf_token=csrf_token,
                 username=username, error=error)


def error_page(*, title: str, error: str, description: str) -> str:
    return _page(title, _ERROR, title=title, error=error, description=description)


def logout_confirm_page(*, action: str, csrf_token: str, client_id: str = "") -> str:
    return _page("Sign out", _LOGOUT_CONFIRM, action=action, csrf_token=csrf_token,
                 client_id=client_id)


def logged_out_page() -> str:
    return _page("Logged out", _LOGGED_OUT)

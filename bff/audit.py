"""``bff audit URL``: the checks a security reviewer runs against any deployment of the BFF.

It talks to the deployment only over HTTP, as a browser or an attacker would, so it needs no
access to the server, its settings or its Redis. Each check reports PASS, FAIL or SKIP (not
applicable here, or needs a test user); the exit code is 1 when any check fails.

With a test user's credentials (``--username``/``--password``) the audit also logs in through
the provider's login form and checks the session cookie, the signed-in endpoints and logout.
TLS is always verified; for a private CA set ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal
from urllib.parse import parse_qs, urljoin, urlsplit

import requests

from bff.sansio.forms import html_forms

Status = Literal["PASS", "FAIL", "SKIP"]

XHR = {"X-CSRF": "1"}
EVIL_ORIGIN = "https://evil.example"
JWT_SHAPE = re.compile(r"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*")
TOKEN_FIELD = re.compile(r"""\b(access_token|refresh_token|id_token)["']?\s*[:=]""", re.I)
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
SAFE_REFERRER_POLICIES = ("no-referrer", "same-origin", "strict-origin",
                          "strict-origin-when-cross-origin")
HSTS_MIN_AGE = 180 * 24 * 3600
OPEN_REDIRECT_PROBES = (
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\/evil.example/",
    "/\t/evil.example/",
    "https:evil.example",
    "javascript:alert(document.domain)",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "%252F%252Fevil.example",
    "/%5Cevil.example",
)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class AuditOptions:
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    api_path: str | None = None
    audience_probes: tuple[str, ...] = ()
    """API paths whose upstream answers with the claims of the token it received (the demo
    APIs' ``/whoami``): each must have seen a token for its own audience."""
    issuer: str | None = None
    timeout: float = 10.0


def passed(name: str, detail: str) -> Check:
    return Check(name, "PASS", detail)


def failed(name: str, detail: str) -> Check:
    return Check(name, "FAIL", detail)


def skipped(name: str, detail: str) -> Check:
    return Check(name, "SKIP", detail)


def verdict(name: str, problems: list[str], ok_detail: str) -> Check:
    return failed(name, "; ".join(problems)) if problems else passed(name, ok_detail)


# -- decisions over plain data ------------------------------------------------------------

def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


def parse_set_cookie(header: str) -> tuple[str, dict[str, str | bool]] | None:
    """One Set-Cookie header as (name, attributes with lower-case keys), None if unparsable."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    if len(jar) != 1:
        return None
    name, morsel = next(iter(jar.items()))
    return name, {key: value for key, value in morsel.items() if value}


def cookie_problems(header: str, https: bool, session: bool) -> list[str]:
    """What is wrong with one cookie the BFF sets; a session cookie must also be host-wide."""
    parsed = parse_set_cookie(header)
    if parsed is None:
        return [f"unparsable Set-Cookie {header[:40]!r}"]
    name, attrs = parsed
    problems = []
    if not attrs.get("httponly"):
        problems.append(f"{name} lacks HttpOnly (JavaScript can read it)")
    samesite = str(attrs.get("samesite", "")).lower()
    if samesite not in ("lax", "strict"):
        problems.append(f"{name} has SameSite={samesite or 'unset'} (want Lax or Strict)")
    if https and not attrs.get("secure"):
        problems.append(f"{name} lacks Secure over https")
    if session:
        if attrs.get("path") != "/":
            problems.append(f"{name} has Path={attrs.get('path') or 'unset'} (want /)")
        if attrs.get("domain"):
            problems.append(f"{name} has a Domain attribute (shared with subdomains)")
        if https and not name.startswith("__Host-"):
            problems.append(f"{name} lacks the __Host- prefix over https")
    return problems


def hsts_problem(value: str | None) -> str | None:
    if not value:
        return "no Strict-Transport-Security header"
    match = re.search(r"max-age\s*=\s*\"?(\d+)", value, re.I)
    if not match or int(match.group(1)) < HSTS_MIN_AGE:
        return f"Strict-Transport-Security max-age below {HSTS_MIN_AGE}s: {value!r}"
    return None


def header_problems(path: str, headers: Mapping[str, str]) -> list[str]:
    """The headers every /bff/* answer needs: not cached, not sniffed, no referrer leaks."""
    problems = []
    if "no-store" not in headers.get("Cache-Control", "").lower():
        problems.append(f"{path}: Cache-Control lacks no-store")
    if headers.get("X-Content-Type-Options", "").lower() != "nosniff":
        problems.append(f"{path}: X-Content-Type-Options is not nosniff")
    policy = headers.get("Referrer-Policy", "").lower().split(",")[-1].strip()
    if policy not in SAFE_REFERRER_POLICIES:
        problems.append(f"{path}: Referrer-Policy is {policy or 'unset'}")
    if headers.get("Access-Control-Allow-Origin"):
        problems.append(f"{path}: grants CORS ({headers['Access-Control-Allow-Origin']})")
    return problems


def token_findings(text: str) -> list[str]:
    """JWT-shaped strings and token-named fields in a body, header or URL."""
    found = [f"a JWT-shaped string ({m[:16]}...)" for m in JWT_SHAPE.findall(text)]
    found += [f"a field named {m}" for m in TOKEN_FIELD.findall(text)]
    return found


def login_request_problems(location: str, bff_origin: str) -> list[str]:
    """The authorization request the BFF sends the browser to: code + PKCE S256 + state/nonce,
    back to the BFF's own origin, with no secret in the URL."""
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if is_pushed(params):
        return []
    problems = []
    if params.get("response_type") != "code":
        problems.append(f"response_type={params.get('response_type')} (want code)")
    if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
        problems.append("no PKCE S256 code_challenge")
    for name in ("state", "nonce"):
        if len(params.get(name, "")) < 16:
            problems.append(f"{name} missing or too short to be unguessable")
    if origin_of(params.get("redirect_uri", "")) != bff_origin:
        problems.append(f"redirect_uri {params.get('redirect_uri')!r} is not on {bff_origin}")
    if "client_secret" in params:
        problems.append("client_secret in the browser's URL")
    return problems


def is_pushed(params: Mapping[str, str]) -> bool:
    """RFC 9126 section 4: a pushed request leaves only ``client_id`` and ``request_uri`` in
    the browser's URL; what it asked for went to the provider directly, authenticated."""
    return set(params) == {"client_id", "request_uri"}


def sender_constraint_checks(document: Mapping[str, Any]) -> list[Check]:
    """What the provider's metadata offers for DPoP and client authentication (the BFF's own
    choice is visible only to its operator: ``bff check-config``)."""
    algorithms = document.get("dpop_signing_alg_values_supported")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return [
        passed("provider.dpop", f"DPoP offered ({', '.join(algorithms)}): tokens can be "
               "sender-constrained") if isinstance(algorithms, list) and algorithms else
        skipped("provider.dpop", "the provider offers no DPoP: tokens are bearer tokens"),
        passed("provider.client-auth", f"the provider accepts {', '.join(methods)}"
               + ("; private_key_jwt available" if "private_key_jwt" in methods else "")),
    ]


def discovery_candidates(authorize_url: str) -> list[str]:
    """Where the provider's discovery document may be, from its authorization endpoint."""
    parts = urlsplit(authorize_url)
    segments = [s for s in parts.path.split("/") if s]
    base = f"{parts.scheme}://{parts.netloc}"
    return [f"{base}/{'/'.join(segments[:n])}".rstrip("/") + "/.well-known/openid-configuration"
            for n in range(len(segments) - 1, -1, -1)]


def login_form(page: str, username: str, password: str) -> tuple[str, dict[str, str]] | None:
    for form in html_forms(page):
        if not form.has_password:
            continue
        action, fields = form.action or "", form.fields
        for field_input in form.inputs:
            kind, name = field_input.get("type", "text"), field_input.get("name")
            if not name:
                continue
            if kind == "password":
                fields[name] = password
            elif kind in ("text", "email") and name not in ("csrf_token",):
                fields[name] = username
        return action, fields
    return None


# -- the audit, over HTTP ----------------------------------------------------------------

@dataclass(frozen=True)
class Seen:
    """A response from the BFF's origin, kept for the checks that look at all of them."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    set_cookies: tuple[str, ...]
    body: str


class Auditor:
    def __init__(self, options: AuditOptions) -> None:
        self.options = options
        self.origin = origin_of(options.url)
        self.https = self.origin.startswith("https://")
        self.http = requests.Session()
        self.seen: list[Seen] = []
        """Every answer from the BFF's origin, for the checks that judge all of them."""
        self.discovery: dict[str, Any] | None = None

    # -- HTTP with a record of what the BFF answered --------------------------------------
    def request(self, method: str, path_or_url: str, *, session: requests.Session | None = None,
                headers: Mapping[str, str] | None = None, **kwargs: Any) -> requests.Response:
        url = urljoin(self.origin + "/", path_or_url)
        client = session or self.http
        response = client.request(method, url, headers=dict(headers or {}),
                                  allow_redirects=False, timeout=self.options.timeout, **kwargs)
        if origin_of(url) == self.origin:
            self.seen.append(Seen(
                method=method, url=url, status=response.status_code,
                headers=dict(response.headers),
                set_cookies=tuple(response.raw.headers.getlist("Set-Cookie")),
                body=response.text))
        return response

    def anonymous(self) -> requests.Session:
        return requests.Session()

    # -- the checks -------------------------------------------------------------------
    def run(self) -> list[Check]:
        checks = [self.check_https()]
        steps: list[Callable[[], Check | list[Check]]] = [
            self.check_hsts, self.check_csrf_on_user, self.check_cross_site_on_user,
            self.check_cors, self.check_login_request_and_discovery, self.check_return_url,
            self.check_login_binding, self.check_spa_headers, self.signed_in_checks,
        ]
        for step in steps:
            try:
                result = step()
            except requests.RequestException as exc:
                result = failed(step.__name__.removeprefix("check_").replace("_", "-"),
                                f"request failed: {type(exc).__name__}")
            checks.extend(result if isinstance(result, list) else [result])
        checks += [self.check_bff_headers(), self.check_cookies(), self.check_no_tokens()]
        return checks

    def check_https(self) -> Check:
        if self.https:
            return passed("transport.https", "served over https")
        if is_local(self.origin):
            return passed("transport.https", "plain http on localhost (development only)")
        return failed("transport.https", f"{self.origin} is plain http on a non-local host")

    def check_hsts(self) -> Check:
        if not self.https or is_local(self.origin):
            return skipped("transport.hsts", "only for https on a public host")
        problem = hsts_problem(self.request("GET", "/bff/user", headers=XHR).headers.get(
            "Strict-Transport-Security"))
        return verdict("transport.hsts", [problem] if problem else [], "HSTS max-age is long")

    def check_csrf_on_user(self) -> Check:
        answer = self.request("GET", "/bff/user", session=self.anonymous())
        plain = self.request("POST", "/bff/logout", session=self.anonymous())
        problems = [f"{what} without X-CSRF answered {r.status_code} (want 403)"
                    for what, r in (("GET /bff/user", answer), ("POST /bff/logout", plain))
                    if r.status_code != 403]
        return verdict("csrf.header-required", problems,
                       "GET /bff/user and POST /bff/logout refuse requests without X-CSRF")

    def check_cross_site_on_user(self) -> Check:
        problems = []
        for label, extra in (("Sec-Fetch-Site: cross-site", {"Sec-Fetch-Site": "cross-site"}),
                             (f"Origin: {EVIL_ORIGIN}", {"Origin": EVIL_ORIGIN})):
            answer = self.request("GET", "/bff/user", session=self.anonymous(),
                                  headers={**XHR, **extra})
            if answer.status_code != 403:
                problems.append(f"GET /bff/user with {label} answered {answer.status_code}")
        return verdict("cross-site.refused", problems,
                       "cross-site requests to /bff/user are refused")

    def check_cors(self) -> Check:
        preflight = self.request("OPTIONS", "/bff/user", session=self.anonymous(), headers={
            "Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-csrf"})
        simple = self.request("GET", "/bff/user", session=self.anonymous(),
                              headers={"Origin": EVIL_ORIGIN})
        problems = [f"{r.request.method} answered Access-Control-Allow-Origin: "
                    f"{r.headers['Access-Control-Allow-Origin']}"
                    for r in (preflight, simple) if r.headers.get("Access-Control-Allow-Origin")]
        return verdict("cors.none", problems, f"no CORS granted to {EVIL_ORIGIN}")

    def check_login_request_and_discovery(self) -> list[Check]:
        answer = self.request("GET", "/bff/login", session=self.anonymous(),
                              params={"returnUrl": "/"})
        location = answer.headers.get("Location", "")
        if answer.status_code not in (302, 303, 307) or not location:
            detail = f"GET /bff/login?returnUrl=/ answered {answer.status_code}, no redirect"
            return [failed("provider.login-request", detail),
                    failed("provider.discovery", "no authorization endpoint to start from")]
        authorize = urljoin(answer.url, location)
        pushed = is_pushed({k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()})
        checks = [verdict("provider.login-request", login_request_problems(authorize, self.origin),
                          "pushed (RFC 9126): the URL carries only client_id and request_uri"
                          if pushed else
                          "code flow with PKCE S256, state and nonce, back to this origin"),
                  passed("provider.par", "authorization requests are pushed; no authorization "
                         "parameter appears in the browser's redirect") if pushed else
                  skipped("provider.par", "not pushed: the authorization parameters travel in "
                          "the browser's URL (RFC 9126 would keep them out)"),
                  self.check_discovery(authorize)]
        return checks + (sender_constraint_checks(self.discovery) if self.discovery else [])

    def check_discovery(self, authorize_url: str) -> Check:
        endpoint = authorize_url.split("?", 1)[0]
        candidates = ([f"{self.options.issuer.rstrip('/')}/.well-known/openid-configuration"]
                      if self.options.issuer else discovery_candidates(endpoint))
        for url in candidates:
            try:
                response = requests.get(url, timeout=self.options.timeout)
                document = response.json() if response.ok else None
            except (requests.RequestException, ValueError):
                continue
            if not isinstance(document, dict):
                continue
            if document.get("authorization_endpoint") != endpoint:
                continue
            self.discovery = document
            methods = document.get("code_challenge_methods_supported") or []
            if "S256" not in methods:
                return failed("provider.discovery",
                              f"{url}: code_challenge_methods_supported={methods} lacks S256")
            return passed("provider.discovery", f"{document.get('issuer')}: PKCE S256 supported")
        return failed("provider.discovery",
                      f"no discovery document names {endpoint} (try --issuer)")

    def check_return_url(self) -> Check:
        problems = []
        for probe in OPEN_REDIRECT_PROBES:
            answer = self.request("GET", "/bff/login", session=self.anonymous(),
                                  params={"returnUrl": probe},
                                  headers={"Accept": "application/json"})
            location = answer.headers.get("Location", "")
            if "evil.example" in location or location.startswith("javascript:"):
                problems.append(f"returnUrl={probe!r} redirects to {location[:60]!r}")
            elif answer.status_code < 400:
                problems.append(f"returnUrl={probe!r} accepted ({answer.status_code})")
        return verdict("redirect.return-url", problems,
                       f"{len(OPEN_REDIRECT_PROBES)} open-redirect probes refused")

    def check_login_binding(self) -> Check:
        """The login binding is minted by the BFF alone and cannot be tossed by a sibling."""
        planted = "planted-by-bff-audit"
        want = "__Host-bff_login" if self.https else "bff_login"
        browser = self.anonymous()
        answer = self.request("GET", "/bff/login", session=browser, params={"returnUrl": "/"},
                              headers={"Cookie": f"{want}={planted}"})
        bindings = [parsed for header in answer.raw.headers.getlist("Set-Cookie")
                    if (parsed := parse_set_cookie(header)) and "login" in parsed[0]]
        if not bindings:
            return failed("cookie.login-binding", f"/bff/login set no binding cookie "
                          f"(status {answer.status_code})")
        name, attrs = bindings[0]
        problems = []
        if name != want:
            problems.append(f"the binding cookie is {name} (want {want})")
        if attrs.get("path") != "/":
            problems.append(f"{name} has Path={attrs.get('path') or 'unset'}: a cookie for a "
                            "narrower path would be sent first (want /)")
        if attrs.get("domain"):
            problems.append(f"{name} has a Domain attribute")
        if planted in str(answer.headers.get("Set-Cookie", "")):
            problems.append(f"{name}: the value the browser sent was adopted")
        return verdict("cookie.login-binding", problems,
                       f"{name}, Path=/, minted by the BFF (a planted value is replaced)")

    def check_spa_headers(self) -> Check:
        answer = self.request("GET", "/", session=self.anonymous(),
                              headers={"Accept": "text/html"})
        if answer.status_code != 200 or "html" not in answer.headers.get("Content-Type", ""):
            return skipped("headers.spa", "no HTML page at / (the SPA may be served elsewhere)")
        policy = answer.headers.get("Content-Security-Policy", "")
        problems = []
        if not policy:
            problems.append("no Content-Security-Policy on the SPA (it limits what XSS can do)")
        if "frame-ancestors" not in policy and answer.headers.get(
                "X-Frame-Options", "").upper() not in ("DENY", "SAMEORIGIN"):
            problems.append("the SPA can be framed (no frame-ancestors, no X-Frame-Options)")
        return verdict("headers.spa", problems, "CSP with frame protection on /")

    def check_bff_headers(self) -> Check:
        bff = [s for s in self.seen if urlsplit(s.url).path.startswith("/bff/")]
        problems = sorted({p for s in bff for p in header_problems(urlsplit(s.url).path,
                                                                    s.headers)})
        return verdict("headers.bff", problems,
                       f"no-store, nosniff, referrer policy on {len(bff)} /bff/* answers")

    def check_cookies(self) -> Check:
        problems = sorted({p for s in self.seen for header in s.set_cookies
                           if not _is_deletion(header)
                           for p in cookie_problems(header, self.https, session=False)})
        count = sum(len(s.set_cookies) for s in self.seen)
        return verdict("cookies.all", problems,
                       f"{count} cookies set: all HttpOnly, SameSite"
                       + (", Secure" if self.https else ""))

    def check_no_tokens(self) -> Check:
        problems = []
        for s in self.seen:
            where = f"{s.method} {urlsplit(s.url).path} ({s.status})"
            for finding in token_findings(s.body):
                problems.append(f"{finding} in the body of {where}")
            for finding in token_findings(" ".join(f"{k}: {v}" for k, v in s.headers.items())):
                problems.append(f"{finding} in the headers of {where}")
        return verdict("tokens.none", sorted(set(problems)),
                       f"no token in {len(self.seen)} answers from {self.origin}")

    # -- with a test user ---------------------------------------------------------------
    def signed_in_checks(self) -> list[Check]:
        names = ("session.login", "cookie.session", "session.user", "csrf.signed-in",
                 "cross-site.signed-in", "api.protected", "api.paths", "api.cache",
                 "api.audiences", "session.logout", "session.logout-link")
        if not (self.options.username and self.options.password):
            return [skipped(name, "needs --username and --password") for name in names]
        browser = self.anonymous()
        cookie_header, problem = self.log_in(browser)
        if problem:
            return [failed("session.login", problem)] + [
                skipped(name, "login failed") for name in names[1:]]
        checks = [passed("session.login", "logged in through the provider's form"),
                  verdict("cookie.session", cookie_problems(cookie_header, self.https, True),
                          "HttpOnly, SameSite, Path=/, host-only"
                          + (", Secure, __Host-" if self.https else ""))]
        checks.append(self.check_user(browser))
        checks.append(self.check_forgery_signed_in(browser))
        checks.append(self.check_cross_site_signed_in(browser))
        checks.append(self.check_api(browser))
        checks.append(self.check_route_escapes(browser))
        checks.append(self.check_api_cache(browser))
        checks.append(self.check_audiences(browser))
        checks.append(self.check_logout(browser))
        checks.append(self.check_logout_link())
        return checks

    def log_in(self, browser: requests.Session) -> tuple[str, str | None]:
        """Follow /bff/login to the provider's form, post it, follow back to the BFF.
        Returns the session cookie's Set-Cookie header, or a problem."""
        assert self.options.username and self.options.password
        answer = self.request("GET", "/bff/login", session=browser, params={"returnUrl": "/"})
        for _ in range(10):
            if answer.is_redirect:
                answer = self.request("GET", urljoin(answer.url, answer.headers["Location"]),
                                      session=browser)
                continue
            if origin_of(answer.url) == self.origin:
                break
            form = login_form(answer.text, self.options.username, self.options.password)
            if form is None:
                return "", f"no login form at {origin_of(answer.url)} (status {answer.status_code})"
            action, fields = form
            answer = self.request("POST", urljoin(answer.url, action), session=browser,
                                  data=fields)
            if not answer.is_redirect:
                return "", "the provider did not accept the credentials"
        callbacks = [s for s in self.seen if urlsplit(s.url).path.endswith("/callback")]
        if not callbacks or not callbacks[-1].set_cookies:
            return "", "the login did not end at the BFF's callback with a cookie"
        sessions = [h for h in callbacks[-1].set_cookies if not _is_deletion(h)]
        if not sessions:
            return "", "the callback set no session cookie"
        if self.request("GET", "/bff/user", session=browser, headers=XHR).status_code != 200:
            return "", "GET /bff/user after login is not 200"
        return sessions[0], None

    def still_signed_in(self, browser: requests.Session) -> bool:
        return self.request("GET", "/bff/user", session=browser, headers=XHR).status_code == 200

    def check_user(self, browser: requests.Session) -> Check:
        answer = self.request("GET", "/bff/user", session=browser, headers=XHR)
        try:
            body = answer.json()
        except ValueError:
            return failed("session.user", "GET /bff/user is not JSON")
        problems = [] if isinstance(body, dict) and body.get("sub") else ["no sub in /bff/user"]
        problems += [f"{f} in /bff/user" for f in token_findings(answer.text)]
        return verdict("session.user", problems, "the user's claims, no token")

    def check_forgery_signed_in(self, browser: requests.Session) -> Check:
        problems = []
        for method, path in (("GET", "/bff/user"), ("POST", "/bff/logout")):
            answer = self.request(method, path, session=browser)
            if answer.status_code != 403:
                problems.append(f"{method} {path} without X-CSRF answered {answer.status_code}")
        link = self.request("GET", "/bff/logout", session=browser)
        if link.status_code < 400:
            problems.append(f"GET /bff/logout without the session's value answered "
                            f"{link.status_code}")
        if not self.still_signed_in(browser):
            problems.append("the session did not survive the forged requests")
        return verdict("csrf.signed-in", problems,
                       "forged user read and logouts refused; session intact")

    def check_cross_site_signed_in(self, browser: requests.Session) -> Check:
        problems = []
        for label, extra in (("Sec-Fetch-Site: cross-site", {"Sec-Fetch-Site": "cross-site"}),
                             ("Sec-Fetch-Site: same-site", {"Sec-Fetch-Site": "same-site"}),
                             (f"Origin: {EVIL_ORIGIN}", {"Origin": EVIL_ORIGIN})):
            for method, path in (("GET", "/bff/user"), ("POST", "/bff/logout")):
                answer = self.request(method, path, session=browser, headers={**XHR, **extra})
                if answer.status_code != 403:
                    problems.append(f"{method} {path} with {label} answered "
                                    f"{answer.status_code}")
        if not self.still_signed_in(browser):
            problems.append("the session did not survive the cross-site requests")
        return verdict("cross-site.signed-in", problems,
                       "cross-site reads and logouts refused; session intact")

    def check_api(self, browser: requests.Session) -> Check:
        path = self.options.api_path
        if not path:
            return skipped("api.protected", "name an API route with --api-path")
        problems = []
        baseline = self.request("GET", path, session=browser, headers=XHR)
        if not 200 <= baseline.status_code < 300:
            problems.append(f"GET {path} with X-CSRF answered {baseline.status_code}")
        problems += [f"{f} in GET {path}" for f in token_findings(baseline.text)]
        forged = (("no X-CSRF", {}),
                  ("Sec-Fetch-Site: cross-site", {**XHR, "Sec-Fetch-Site": "cross-site"}),
                  (f"Origin: {EVIL_ORIGIN}", {**XHR, "Origin": EVIL_ORIGIN}))
        for label, extra in forged:
            answer = self.request("GET", path, session=browser, headers=extra)
            if answer.status_code != 403:
                problems.append(f"GET {path} with {label} answered {answer.status_code}")
        anonymous = self.request("GET", path, session=self.anonymous(), headers=XHR)
        if anonymous.status_code != 401:
            problems.append(f"GET {path} without a session answered {anonymous.status_code}")
        return verdict("api.protected", problems,
                       f"{path}: works same-origin, refused without X-CSRF, cross-site, "
                       "or without a session")

    def check_route_escapes(self, browser: requests.Session) -> Check:
        """One canonical path: an escaped letter means the same route as the letter itself,
        and path parameters and encoded separators are refused before any upstream."""
        path = self.options.api_path
        if not path:
            return skipped("api.paths", "name an API route with --api-path")
        head, _, last = path.rstrip("/").rpartition("/")
        if not last or not last[-1].isalnum():
            return skipped("api.paths", f"{path} ends without a letter or digit to escape")
        escaped = f"{head}/{last[:-1]}%{ord(last[-1]):02X}"
        problems = []
        baseline = self.request("GET", path, session=browser, headers=XHR).status_code
        answer = self.request("GET", escaped, session=browser, headers=XHR).status_code
        if answer != baseline:
            problems.append(f"GET {escaped} answered {answer}, GET {path} {baseline}: "
                            "an escaped letter reaches another route")
        for variant in (f"{path};x", f"{head}/{last};jsessionid=1/x", f"{path}%2F..%2Fx",
                        f"{head}%2F{last}"):
            status = self.request("GET", variant, session=browser, headers=XHR).status_code
            if status != 400:
                problems.append(f"GET {variant} answered {status} (want 400 invalid_path)")
        return verdict("api.paths", problems,
                       f"{escaped} is {path}; ';' parameters and encoded '/' refused")

    def check_api_cache(self, browser: requests.Session) -> Check:
        path = self.options.api_path
        if not path:
            return skipped("api.cache", "name an API route with --api-path")
        answer = self.request("GET", path, session=browser, headers=XHR)
        directives = {d.strip().split("=", 1)[0].lower()
                      for d in answer.headers.get("Cache-Control", "").split(",") if d.strip()}
        problems = []
        if not directives & {"private", "no-store"}:
            problems.append(f"GET {path} has Cache-Control "
                            f"{answer.headers.get('Cache-Control') or 'unset'}: a shared cache "
                            "may keep one user's answer for another")
        if directives & {"public", "s-maxage"}:
            problems.append(f"GET {path} is marked public for shared caches")
        return verdict("api.cache", problems,
                       f"GET {path}: {answer.headers.get('Cache-Control')}, never shared")

    def check_audiences(self, browser: requests.Session) -> Check:
        """Routes whose upstreams tell which audience they received (RFC 8707): a token that
        one upstream could replay at another is exactly what resource indicators prevent."""
        probes = self.options.audience_probes
        if len(probes) < 2:
            return skipped("api.audiences", "name two or more --audience-probe paths whose "
                           "upstreams echo the token's claims")
        seen: dict[str, str] = {}
        problems = []
        for path in probes:
            answer = self.request("GET", path, session=browser, headers=XHR)
            try:
                claims = answer.json()
            except ValueError:
                claims = None
            if answer.status_code != 200 or not isinstance(claims, dict) or "aud" not in claims:
                problems.append(f"GET {path} answered {answer.status_code} without an aud")
                continue
            seen[path] = json.dumps(claims["aud"], sort_keys=True)
            kind = claims.get("token_type")
            if kind:
                seen[path] += f" ({kind})"
        shared = {aud for aud in seen.values() if list(seen.values()).count(aud) > 1}
        problems += [f"{', '.join(p for p, a in seen.items() if a == aud)} received the same "
                     f"audience {aud}" for aud in sorted(shared)]
        return verdict("api.audiences", problems, "distinct audiences: " + "; ".join(
            f"{path} -> {aud}" for path, aud in seen.items()))

    def check_logout(self, browser: requests.Session) -> Check:
        answer = self.request("POST", "/bff/logout", session=browser, headers=XHR)
        problems = [] if answer.status_code in (200, 204) else [
            f"POST /bff/logout answered {answer.status_code}"]
        if not any(_is_deletion(h) for h in answer.raw.headers.getlist("Set-Cookie")):
            problems.append("logout did not delete the session cookie")
        if self.request("GET", "/bff/user", session=browser, headers=XHR).status_code != 401:
            problems.append("/bff/user still answers after logout")
        return verdict("session.logout", problems, "session ended and cookie deleted")


    def check_logout_link(self) -> Check:
        """The other way out: the `logout_url` from /bff/user, followed as a plain link."""
        browser = self.anonymous()
        _, problem = self.log_in(browser)
        if problem:
            return failed("session.logout-link", f"second login: {problem}")
        link = self.request("GET", "/bff/user", session=browser, headers=XHR).json().get(
            "logout_url")
        if not isinstance(link, str) or not link.startswith("/"):
            return failed("session.logout-link", "/bff/user has no same-origin logout_url")
        answer = self.request("GET", link, session=browser)
        problems = [] if answer.is_redirect else [
            f"GET logout_url answered {answer.status_code} (want a redirect)"]
        if self.still_signed_in(browser):
            problems.append("/bff/user still answers after the logout link")
        return verdict("session.logout-link", problems, "the logout_url link ends the session")


def _is_deletion(set_cookie: str) -> bool:
    lowered = set_cookie.lower()
    return "max-age=0" in lowered or "expires=thu, 01 jan 1970" in lowered


def run_audit(options: AuditOptions) -> list[Check]:
    return Auditor(options).run()


def format_table(url: str, checks: Iterable[Check]) -> str:
    rows = list(checks)
    width = max(len(c.name) for c in rows)
    lines = [f"bff audit {url}", "", f"{'check':<{width}}  result  detail"]
    lines += [f"{c.name:<{width}}  {c.status:<6}  {c.detail}" for c in rows]
    counts = {status: sum(c.status == status for c in rows) for status in ("PASS", "FAIL", "SKIP")}
    lines += ["", f"audit: {counts['PASS']} checks passed, {counts['FAIL']} failed, "
                  f"{counts['SKIP']} skipped"]
    return "\n".join(lines)


def main(options: AuditOptions) -> int:
    checks = run_audit(options)
    print(format_table(options.url, checks))
    return 1 if any(c.status == "FAIL" for c in checks) else 0

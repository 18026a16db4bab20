"""The ``bff`` console script."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bff.settings import SettingsError

if TYPE_CHECKING:
    from bff.resource.revocations import RevocationList


def _serve(args: argparse.Namespace) -> int:
    from bff.app import create_app
    from bff.serving import serve
    from bff.settings import load_settings

    serve(create_app(load_settings(args.config)), args.port, host=args.host)
    return 0


def _authserver(args: argparse.Namespace) -> int:
    if args.action == "rotate-keys":
        from bff.authserver.keys import rotate_keys
        from bff.authserver.settings import load_settings

        settings = load_settings(args.config)
        print(f"published in the JWKS now, signing in {settings.key_publish_ahead} s: "
              f"new signing key: {rotate_keys(settings)}")
        return 0
    from bff.authserver import serve

    serve(args.config, args.port)
    return 0


REVOCATIONS_HELP = ("follow the reference provider's revocation list in this Redis (default: "
                    "BFF_RESOURCE_REVOCATIONS_REDIS_URL), so revoked tokens are refused within "
                    "about a second with no call to the provider")


def _demo_api(args: argparse.Namespace) -> int:
    from bff.resource.demo_api import StockCheck
    from bff.resource.server import serve_demo_api
    from bff.resource.service_client import ServiceClient
    from bff.signing_keys import load_signing_key

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stock = None
    if args.inventory_url:
        secret = os.environ.get("BFF_DEMO_API_CLIENT_SECRET", "")
        if not secret:
            raise SettingsError("--inventory-url needs BFF_DEMO_API_CLIENT_SECRET, the orders "
                                "API's secret for token exchange")
        key_text = os.environ.get("BFF_DEMO_API_DPOP_KEY")
        dpop_key = load_signing_key(key_text, "BFF_DEMO_API_DPOP_KEY") if key_text else None
        stock = StockCheck(args.inventory_url,
                           ServiceClient(args.issuer, args.client_id, secret, dpop_key=dpop_key))
    serve_demo_api(args.issuer, args.port, audience=args.audience, stock=stock,
                   revocations=_revocations(args), dpop=args.dpop)
    return 0


def _revocations(args: argparse.Namespace) -> RevocationList | None:
    """The provider's revocation list, followed when its Redis is named."""
    url = args.revocations_redis_url or os.environ.get("BFF_RESOURCE_REVOCATIONS_REDIS_URL")
    if not url:
        return None
    from bff.resource.revocations import RevocationList

    return RevocationList(url).start()


def _demo_inventory(args: argparse.Namespace) -> int:
    from bff.resource.server import serve_inventory_api

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    serve_inventory_api(args.issuer, args.port, args.audience or f"http://localhost:{args.port}",
                        _revocations(args), dpop=args.dpop)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bff.demo import run_demo

    return run_demo(args.port)


def _check_config(args: argparse.Namespace) -> int:
    from bff.checks import check_config

    return check_config(args.config)


def _audit(args: argparse.Namespace) -> int:
    import os

    from bff.audit import AuditOptions, main

    return main(AuditOptions(
        url=args.url, username=args.username,
        password=args.password or os.environ.get("BFF_AUDIT_PASSWORD"),
        api_path=args.api_path, issuer=args.issuer, timeout=args.timeout,
        audience_probes=tuple(args.audience_probe),
    ))


def _sessions(args: argparse.Namespace) -> int:
    """Operators: a user's sessions, or end them (a stolen laptop, a leaver) without waiting
    for the provider; refresh tokens are revoked as logout does."""
    from bff.app import create_app
    from bff.settings import load_settings
    from bff.user_sessions import describe, end_sessions, sessions_of, with_public_id

    with create_app(load_settings(args.config)).app_context():
        sessions = sessions_of(args.sub)
        if args.action == "list":
            for view in map(describe, sessions):
                print(f"{view['id']}  {view['device']:<22} created {view['created_at']} "
                      f"last seen {view['last_seen_at']} expires {view['expires_at']}")
            print(f"{len(sessions)} session(s) of {args.sub}", file=sys.stderr)
            return 0
        targets = sessions
        if args.session is not None:
            target = with_public_id(sessions, args.session)
            if target is None:
                print(f"bff: {args.sub} has no session {args.session}", file=sys.stderr)
                return 1
            targets = [target]
        counts = end_sessions(targets, "session revoked by an operator")
    not_revoked = counts["not_revoked"]
    print(f"ended {counts['ended']} session(s) of {args.sub}"
          + (f"; {not_revoked} refresh token(s) could not be revoked at the provider "
             "(they stay valid there until they expire)" if not_revoked else ""))
    return 0


def _generate_admin_token(args: argparse.Namespace) -> int:
    from bff.admin import new_admin_token

    token, digest = new_admin_token()
    print(f"admin token (give it to operators, keep it secret): {token}")
    print(f"BFF_ADMIN_TOKEN_SHA256={digest}")
    return 0


def _generate_key(args: argparse.Namespace) -> int:
    if args.kind is None:
        from bff.settings import generate_secret_key

        print(generate_secret_key())
        return 0
    import json

    from bff.signing_keys import generate_signing_key

    key = generate_signing_key()
    setting = "BFF_CLIENT_KEY" if args.kind == "client" else "BFF_DPOP_KEYS"
    print(f"# {setting} (private: keep it as secret as a client secret)")
    print(json.dumps(key.private_jwk(), separators=(",", ":")))
    if args.kind == "client":
        print("# the public JWK to register at the provider (its jwks for this client)")
        print(json.dumps(key.public_jwk(), separators=(",", ":")))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bff",
        description="Backend-for-Frontend: OAuth2/OIDC done server-side; the SPA holds one "
                    "HttpOnly cookie.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the whole demo: authorization server, demo API, BFF "
                                       "and SPA (http://localhost:8000)")
    demo.add_argument("--port", type=int, default=8000,
                      help="BFF port; the authorization server uses P+1, the demo API P+2")
    demo.set_defaults(func=_demo)

    serve = sub.add_parser("serve", help="run the BFF (development server; production: "
                                         "gunicorn \"bff.app:create_app()\")")
    serve.add_argument("--config", help="TOML settings file (default: $BFF_CONFIG)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(func=_serve)

    auth = sub.add_parser("authserver", help="run the reference authorization server")
    auth.add_argument("action", nargs="?", choices=["serve", "rotate-keys"], default="serve",
                      help="serve (default) or rotate-keys: a new key signs, old ones stay "
                           "published until their tokens expire")
    auth.add_argument("--config", help="TOML file (default: config/authserver.toml)")
    auth.add_argument("--port", type=int, default=8001)
    auth.set_defaults(func=_authserver)

    api = sub.add_parser("demo-api", help="run the demo orders API (a resource server)")
    api.add_argument("--issuer", default="http://localhost:8001")
    api.add_argument("--audience", default="demo-api")
    api.add_argument("--port", type=int, default=8002)
    api.add_argument("--inventory-url", help="check each new order's stock at this inventory "
                     "API, on the user's behalf (token exchange; the secret comes from "
                     "BFF_DEMO_API_CLIENT_SECRET)")
    api.add_argument("--client-id", default="orders-api",
                     help="the orders API's client id for token exchange")
    api.add_argument("--revocations-redis-url", help=REVOCATIONS_HELP)
    api.add_argument("--dpop", choices=["off", "allowed", "required"], default="allowed",
                     help="DPoP-bound tokens (RFC 9449): required refuses bearer tokens")
    api.set_defaults(func=_demo_api)

    inventory = sub.add_parser("demo-inventory", help="run the demo inventory API")
    inventory.add_argument("--issuer", default="http://localhost:8001")
    inventory.add_argument("--audience", help="default: http://localhost:PORT")
    inventory.add_argument("--port", type=int, default=8003)
    inventory.add_argument("--revocations-redis-url", help=REVOCATIONS_HELP)
    inventory.add_argument("--dpop", choices=["off", "allowed", "required"], default="allowed",
                           help="DPoP-bound tokens (RFC 9449): required refuses bearer tokens")
    inventory.set_defaults(func=_demo_inventory)

    check = sub.add_parser("check-config", help="validate settings, reach Redis and the "
                                                "provider; exit 0 only when ready")
    check.add_argument("--config", help="TOML settings file (default: $BFF_CONFIG)")
    check.set_defaults(func=_check_config)

    audit = sub.add_parser("audit", help="check a running deployment from outside: cookies, "
                                         "anti-forgery, redirects, headers, no token; exit 1 "
                                         "on any failure")
    audit.add_argument("url", help="the BFF's public origin, e.g. https://app.example.com")
    audit.add_argument("--username", help="a test user for the provider's login form")
    audit.add_argument("--password", help="its password (or set BFF_AUDIT_PASSWORD)")
    audit.add_argument("--api-path", help="an /api route to check, e.g. /api/orders")
    audit.add_argument("--audience-probe", action="append", default=[], metavar="PATH",
                       help="an API path whose upstream answers with the claims of the token it "
                       "received (the demo's /api/orders/whoami); give two or more to check "
                       "that each upstream gets a token for its own audience")
    audit.add_argument("--issuer", help="the provider's issuer, when discovery cannot be "
                                        "found from its authorization endpoint")
    audit.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    audit.set_defaults(func=_audit)

    sessions = sub.add_parser("sessions", help="list or end a user's sessions (operators)")
    sessions.add_argument("action", choices=["list", "revoke"])
    sessions.add_argument("--sub", required=True, help="the user's subject (sub)")
    sessions.add_argument("--session", help="with revoke: only this session id (from list)")
    sessions.add_argument("--config", help="TOML settings file (default: $BFF_CONFIG)")
    sessions.set_defaults(func=_sessions)

    admin_token = sub.add_parser("generate-admin-token", help="print a token for the admin API "
                                 "and the BFF_ADMIN_TOKEN_SHA256 that enables it")
    admin_token.set_defaults(func=_generate_admin_token)

    key = sub.add_parser("generate-key", help="print a new key: for BFF_SECRET_KEYS, or with "
                         "--client for BFF_CLIENT_KEY (private_key_jwt) and --dpop for "
                         "BFF_DPOP_KEYS")
    kind = key.add_mutually_exclusive_group()
    kind.add_argument("--client", dest="kind", action="store_const", const="client",
                      help="an EC P-256 private JWK for private_key_jwt, and its public JWK")
    kind.add_argument("--dpop", dest="kind", action="store_const", const="dpop",
                      help="an EC P-256 private JWK for DPoP proofs")
    key.set_defaults(func=_generate_key, kind=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"bff: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

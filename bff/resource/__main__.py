"""``python -m bff.resource --issuer URL [--port P]``: the demo API without the ``bff`` CLI."""

from __future__ import annotations

import argparse
import logging

from bff.resource.server import serve_demo_api


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bff.resource", description=__doc__)
    parser.add_argument("--issuer", required=True, help="the authorization server's issuer URL")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--audience", default="demo-api")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    serve_demo_api(args.issuer, args.port, args.audience)


if __name__ == "__main__":
    main()

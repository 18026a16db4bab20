"""What the revocation list costs a request, and how fast a revocation arrives.

Per-request cost: ``TokenValidator.validate`` of one valid RS256 token, without the list and with
a list of 10,000 revoked entries (medians of rounds, same run). Propagation: the reference
provider's own publishing code revokes a token and a ``RevocationList`` following a real
redis-server is polled until it refuses it (median and maximum of 20 revocations).

    python -m bench.revocations [--checks 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import redis

from bench.inprocess import redis_and_upstream
from bff.authserver.store import AuthStore
from bff.resource.revocations import RevocationList
from bff.resource.settings import ValidatorSettings
from bff.resource.testing import LocalIssuer
from bff.resource.validation import TokenValidator

ENTRIES = 10_000


def validate_us(validator: TokenValidator, token: str, checks: int) -> float:
    started = time.perf_counter()
    for _ in range(checks):
        validator.validate(token)
    return (time.perf_counter() - started) / checks * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with redis_and_upstream() as (redis_url, _), LocalIssuer() as issuer:
        store = AuthStore(redis.Redis.from_url(redis_url))
        now = int(time.time())
        for n in range(ENTRIES):
            store.revoke_jti(f"bench-{n}", now + 3600)
        listing = RevocationList(redis_url, block_ms=1000).start()
        settings = ValidatorSettings(issuer=issuer.url, audience="demo-api")
        plain, checked = TokenValidator(settings), TokenValidator(settings, revocations=listing)
        token = issuer.mint()
        plain.validate(token)
        checked.validate(token)
        without, with_list = [], []
        for _ in range(args.rounds):
            without.append(validate_us(plain, token, args.checks))
            with_list.append(validate_us(checked, token, args.checks))
        delays = []
        for n in range(20):
            revoked_at = time.monotonic()
            store.revoke_jti(f"late-{n}", now + 3600)
            while listing.reason({"jti": f"late-{n}"}) is None:
                time.sleep(0.001)
            delays.append(time.monotonic() - revoked_at)
        listing.close()
    base, cost = statistics.median(without), statistics.median(with_list)
    print(f"{'validation':<40} {'us/token (median)':>18}")
    print(f"{'offline JWT validation':<40} {base:>18.1f}")
    print(f"{f'+ revocation list ({ENTRIES:,} entries)':<40} {cost:>18.1f}")
    print(f"the list's check: {cost - base:+.1f} us per request (target: under 50 us)")
    print(f"propagation over {len(delays)} revocations: median "
          f"{statistics.median(delays) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms "
          "(target: under 2 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

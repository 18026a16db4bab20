"""``BFF_REDIS_URL`` read into a target: which deployment (standalone, Sentinel, Cluster), which
hosts, database, credentials and TLS options. Plain parsing, so settings validation and
``bff check-config`` refuse a bad URL with a message before anything connects; ``bff.store``
turns a target into a client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote

Mode = Literal["standalone", "sentinel", "cluster"]

DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
TLS_OPTIONS: dict[str, Callable[[str], Any]] = {
    "ssl_cert_reqs": lambda v: _choice(v, ("none", "optional", "required"), "ssl_cert_reqs"),
    "ssl_ca_certs": str,
    "ssl_ca_path": str,
    "ssl_certfile": str,
    "ssl_keyfile": str,
    "ssl_check_hostname": lambda v: _boolean(v, "ssl_check_hostname"),
}


class RedisUrlError(ValueError):
    """``BFF_REDIS_URL`` cannot be understood; the message says what is wrong and the forms."""


@dataclass(frozen=True)
class RedisTarget:
    """What a ``BFF_REDIS_URL`` names, parsed and checked before any connection is made."""

    mode: Mode
    hosts: tuple[tuple[str, int], ...] = ()
    unix_path: str | None = None
    service: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        """The URL without its password, for logs and ``bff check-config``."""
        where = self.unix_path or ",".join(f"{h}:{p}" for h, p in self.hosts)
        tls = " (TLS)" if self.tls else ""
        if self.mode == "sentinel":
            return f"sentinel {where} master {self.service!r} db {self.db}{tls}"
        if self.mode == "cluster":
            return f"cluster via {where}{tls}"
        return f"standalone {where} db {self.db}{tls}"


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value.lower() not in allowed:
        raise RedisUrlError(f"BFF_REDIS_URL: {name} must be one of {', '.join(allowed)}")
    return value.lower()


def _boolean(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise RedisUrlError(f"BFF_REDIS_URL: {name} must be true or false, got {value!r}")


def _db(text: str, where: str) -> int:
    if not text.isdigit():
        raise RedisUrlError(f"BFF_REDIS_URL: the database number {where} must be a number, "
                            f"got {text!r}")
    return int(text)


def _hosts(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    hosts = []
    for part in netloc.split(","):
        if not part:
            raise RedisUrlError("BFF_REDIS_URL: an empty host in the host list")
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port_text = rest.removeprefix(":")
        else:
            host, _, port_text = part.rpartition(":") if ":" in part else (part, "", "")
        if not host:
            raise RedisUrlError(f"BFF_REDIS_URL: no host in {part!r}")
        if port_text and not port_text.isdigit():
            raise RedisUrlError(f"BFF_REDIS_URL: the port in {part!r} is not a number")
        hosts.append((host, int(port_text) if port_text else default_port))
    return tuple(hosts)


def parse_redis_url(url: str) -> RedisTarget:
    """Check a ``BFF_REDIS_URL`` and say what it names; no I/O."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    forms = ("redis://, rediss://, unix://, redis+sentinel://host:port[,host:port]/master[/db] "
             "or redis+cluster://host:port")
    if not sep or scheme not in ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel",
                                 "redis+cluster", "rediss+cluster"):
        raise RedisUrlError(f"BFF_REDIS_URL must start with one of {forms}")
    tls = scheme.startswith("rediss")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise RedisUrlError("BFF_REDIS_URL must not carry a #fragment")
    location, _, query_text = rest.partition("?")
    query = dict(parse_qsl(query_text, keep_blank_values=True))
    userinfo, at, hostpart = location.rpartition("@")
    if not at:
        hostpart = location
    username = password = None
    if userinfo:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    netloc, _, path = hostpart.partition("/")
    segments = [unquote(s) for s in path.split("/") if s]
    db = _db(query.pop("db"), "in ?db=") if "db" in query else 0
    tls_options = []
    for name, value in query.items():
        if name not in TLS_OPTIONS:
            raise RedisUrlError(f"BFF_REDIS_URL: unknown option {name!r}; known: db, "
                                f"{', '.join(TLS_OPTIONS)}")
        if not tls:
            raise RedisUrlError(f"BFF_REDIS_URL: {name} needs a TLS scheme (rediss...)")
        tls_options.append((name, TLS_OPTIONS[name](value)))
    common = {"username": username, "password": password, "tls": tls,
              "tls_options": tuple(tls_options)}
    if scheme == "unix":
        if netloc or not path:
            raise RedisUrlError("BFF_REDIS_URL: unix:// takes an absolute socket path, "
                                "as in unix:///run/redis/redis.sock?db=0")
        return RedisTarget(mode="standalone", unix_path="/" + path, db=db, **common)
    if not netloc:
        raise RedisUrlError(f"BFF_REDIS_URL: no host in {scheme}://; expected {forms}")
    if scheme.endswith("+sentinel"):
        if not segments:
            raise RedisUrlError("BFF_REDIS_URL: a Sentinel URL names the master after the "
                                "hosts, as in redis+sentinel://s1:26379,s2:26379/mymaster/0")
        if len(segments) > 2:
            raise RedisUrlError("BFF_REDIS_URL: a Sentinel URL is .../master-name[/db]")
        if len(segments) == 2:
            db = _db(segments[1], "after the master name")
        return RedisTarget(mode="sentinel", hosts=_hosts(netloc, DEFAULT_SENTINEL_PORT),
                           service=segments[0], db=db, **common)
    if scheme.endswith("+cluster"):
        if segments and segments != ["0"] or db:
            raise RedisUrlError("BFF_REDIS_URL: a Redis Cluster has only database 0; "
                                "remove the /db from redis+cluster://")
        return RedisTarget(mode="cluster", hosts=_hosts(netloc, DEFAULT_PORT), **common)
    if len(segments) > 1:
        raise RedisUrlError("BFF_REDIS_URL: redis://host:port[/db] takes at most a database "
                            "number as its path")
    if segments:
        db = _db(segments[0], "in the path")
    hosts = _hosts(netloc, DEFAULT_PORT)
    if len(hosts) != 1:
        raise RedisUrlError("BFF_REDIS_URL: several hosts need redis+sentinel:// or "
                            "redis+cluster://")
    return RedisTarget(mode="standalone", hosts=hosts, db=db, **common)



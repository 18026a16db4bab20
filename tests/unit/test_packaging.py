"""The Dockerfile and compose.yaml agree with the code, since no Docker engine runs here.

Every ``BFF_*`` variable they set is one the service reads, every ``bff`` command parses with the
real CLI, every file they name exists in the build context, the gunicorn app imports, and the
compose settings load and fit together (issuer, redirect URI, ports).
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import runpy
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from bff import settings as bff_settings
from bff.authserver import settings as auth_settings
from bff.cli import build_parser
from bff.settings import ENV_KEYS, generate_secret_key, load_settings
from tests.support import ROOT

IMAGE_ROOT = "/app"  # the Dockerfile's WORKDIR, where it copies config/ and frontend/
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.conf.py"
BFF_NAME = re.compile(r"\bBFF_[A-Z0-9_]+\b")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def dockerfile() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, arguments = pending.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), arguments.strip()))
            pending = ""
    return instructions


def final_stage() -> list[Instruction]:
    instructions = dockerfile()
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def names_read_by(*sources: Path) -> set[str]:
    """The ``BFF_*`` names a piece of code mentions: what it can possibly read."""
    return {name for source in sources for name in BFF_NAME.findall(source.read_text())}


def module_file(module: Any) -> Path:
    return Path(module.__file__)


BFF_NAMES = set(ENV_KEYS) | names_read_by(module_file(bff_settings), GUNICORN_CONFIG)
AUTHSERVER_NAMES = names_read_by(module_file(auth_settings))


def in_repository(path: str) -> Path:
    """A path inside the image, as a path in this repository."""
    relative = path.removeprefix(IMAGE_ROOT + "/") if path.startswith("/") else path
    return ROOT / relative


def interpolated(environment: Mapping[str, Any]) -> dict[str, str]:
    """Compose's ``${VAR:?message}`` filled in the way a user is told to (a fresh key)."""
    values = {"BFF_SECRET_KEYS": generate_secret_key()}
    result = {}
    for name, value in environment.items():
        text = str(value)
        match = re.fullmatch(r"\$\{(\w+):\?[^}]*\}", text)
        result[name] = values[match.group(1)] if match else text
        assert "${" not in result[name], f"{name}: unexpected interpolation {text!r}"
    return result


def service_env(service: str) -> dict[str, str]:
    return interpolated(compose()["services"][service].get("environment", {}))


def command(service: str) -> list[str]:
    raw = compose()["services"][service].get("command")
    return shlex.split(raw) if isinstance(raw, str) else list(raw or [])


def bff_services() -> Iterator[tuple[str, list[str]]]:
    for name, service in compose()["services"].items():
        if service.get("image") == "bff:local":
            yield name, command(name)


# -- Dockerfile ---------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_on_a_slim_python() -> None:
    stages = [ins for ins in dockerfile() if ins.keyword == "FROM"]
    assert len(stages) >= 2
    args = {ins.arguments.split("=", 1)[0]: ins.arguments.split("=", 1)[1]
            for ins in dockerfile() if ins.keyword == "ARG" and "=" in ins.arguments}
    assert "slim" in args["PYTHON_IMAGE"] and args["PYTHON_IMAGE"].startswith("python:3.1")
    assert any(ins.keyword == "RUN" and 'pip install ".[production]"' in ins.arguments
               for ins in dockerfile()), "the image needs gevent, the worker class of the config"


def test_image_runs_as_a_non_root_user() -> None:
    users = [ins.arguments for ins in final_stage() if ins.keyword == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_image_command_is_gunicorn_with_the_production_config() -> None:
    cmd = json.loads(next(ins.arguments for ins in final_stage() if ins.keyword == "CMD"))
    assert cmd == ["gunicorn", "-c", "config/gunicorn.conf.py", "bff.app:create_app()"]
    assert in_repository(cmd[2]).is_file()
    module, _, call = cmd[3].partition(":")
    factory = getattr(importlib.import_module(module), call.removesuffix("()"))
    assert callable(factory)


def gunicorn_default_bind(monkeypatch: pytest.MonkeyPatch) -> str:
    for name in names_read_by(GUNICORN_CONFIG):
        monkeypatch.delenv(name, raising=False)
    return runpy.run_path(str(GUNICORN_CONFIG))["bind"]


def test_healthcheck_and_expose_match_the_servers_default_port(
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = gunicorn_default_bind(monkeypatch).rsplit(":", 1)[1]
    check = next(ins.arguments for ins in final_stage() if ins.keyword == "HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/healthz" in check
    assert [ins.arguments for ins in final_stage() if ins.keyword == "EXPOSE"] == [port]


def dockerignore_patterns() -> list[str]:
    return [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a pattern excludes a path or any folder above it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        body = pattern.removeprefix("**/")
        for prefix in prefixes:
            candidates = [prefix] if body == pattern else ["/".join(prefix.split("/")[-n:])
                                                            for n in range(1, len(parts) + 1)]
            if any(fnmatch.fnmatchcase(c, body) for c in candidates):
                return True
    return False


def test_every_copied_file_is_in_the_build_context() -> None:
    patterns = dockerignore_patterns()
    copies = [ins.arguments.split() for ins in dockerfile() if ins.keyword == "COPY"]
    local = [args for args in copies if not args[0].startswith("--from")]
    assert local
    for args in local:
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not is_ignored(source, patterns), f"COPY {source}: .dockerignore drops it"


def test_build_context_leaves_out_secrets_caches_and_tests() -> None:
    patterns = dockerignore_patterns()
    for path in (".git/config", ".venv/bin/python", "var/authserver/keys/k.json", ".env",
                 "tests/conftest.py", "bff/__pycache__/app.cpython-311.pyc",
                 "frontend/examples/react-vite/node_modules/vite/package.json"):
        assert is_ignored(path, patterns), path
    assert not is_ignored("bff/app.py", patterns)


def test_demo_spa_files_the_image_copies_are_all_it_loads() -> None:
    copied = next(ins.arguments.split()[:-1] for ins in dockerfile()
                  if ins.keyword == "COPY" and ins.arguments.startswith("frontend/"))
    page = (ROOT / "frontend" / "index.html").read_text()
    loaded = set(re.findall(r'(?:src|href)="/([^"/]+\.(?:js|css|svg))"', page))
    for module in ("frontend/app.js",):
        loaded |= set(re.findall(r'from "\./([^"]+\.js)"', (ROOT / module).read_text()))
    assert {f"frontend/{name}" for name in loaded} <= set(copied)


# -- compose.yaml -------------------------------------------------------------------------

def test_compose_runs_the_whole_stack() -> None:
    services = compose()["services"]
    assert {"bff", "redis", "authserver", "demo-api"} <= set(services)
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency] or dependency == "bff"


def test_compose_builds_the_image_from_this_dockerfile() -> None:
    for name, _ in bff_services():
        assert compose()["services"][name]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


@pytest.mark.parametrize("service", ["authserver", "demo-api"])
def test_compose_commands_parse_with_the_real_cli(service: str) -> None:
    cmd = command(service)
    assert cmd[0] == "bff"
    try:
        args = build_parser().parse_args(cmd[1:])
    except SystemExit as exc:
        raise AssertionError(f"{service}: `{' '.join(cmd)}` is refused by the CLI") from exc
    if getattr(args, "config", None):
        assert in_repository(args.config).is_file()


def test_bff_service_runs_the_images_gunicorn_command() -> None:
    assert "command" not in compose()["services"]["bff"]


def test_every_variable_is_one_the_service_reads() -> None:
    readers = {"bff": BFF_NAMES, "authserver": AUTHSERVER_NAMES,
               "demo-api": {"BFF_DEMO_API_CLIENT_SECRET"}, "inventory-api": set()}
    for name, service in compose()["services"].items():
        used = {v for v in service.get("environment", {}) if v.startswith("BFF_")}
        unknown = used - readers.get(name, set())
        assert not unknown, f"{name} sets {sorted(unknown)}, which it never reads"
    image_env = {name for ins in dockerfile() if ins.keyword == "ENV"
                 for name in BFF_NAME.findall(ins.arguments)}
    assert image_env <= BFF_NAMES


def compose_bff_settings() -> bff_settings.Settings:
    env = service_env("bff")
    env["BFF_CONFIG"] = str(in_repository(env["BFF_CONFIG"]))
    env["BFF_FRONTEND_DIR"] = str(in_repository(env["BFF_FRONTEND_DIR"]))
    return load_settings(environ=env)


def compose_authserver_settings() -> auth_settings.AuthServerSettings:
    cmd = command("authserver")
    config = cmd[cmd.index("--config") + 1]
    return auth_settings.load_settings(str(in_repository(config)), environ=service_env(
        "authserver"))


def test_compose_settings_load_and_fit_together() -> None:
    bff = compose_bff_settings()
    auth = compose_authserver_settings()
    assert bff.issuer == auth.issuer
    client = auth.client(bff.client_id)
    assert client is not None and bff.redirect_uri in client.redirect_uris
    api = command("demo-api")
    assert api[api.index("--issuer") + 1] == auth.issuer
    api_port = api[api.index("--port") + 1]
    inventory = command("inventory-api")
    inventory_port = inventory[inventory.index("--port") + 1]
    assert [urlsplit(r.upstream).port for r in bff.routes] == [int(api_port),
                                                                int(inventory_port)]
    assert [r.resource for r in bff.routes] == [f"http://localhost:{api_port}",
                                                 f"http://localhost:{inventory_port}"]
    assert api[api.index("--audience") + 1] == bff.routes[0].resource
    assert set(client.resources) == {r.resource for r in bff.routes}
    issuer_port = urlsplit(auth.issuer).port
    assert command("authserver")[command("authserver").index("--port") + 1] == str(issuer_port)


def test_compose_ports_line_up() -> None:
    bff = compose_bff_settings()
    bind = service_env("bff")["BFF_BIND"]
    assert bind.startswith("127.0.0.1:")
    assert urlsplit(bff.base_url).port == int(bind.rsplit(":", 1)[1])
    redis_port = command("redis")[command("redis").index("--port") + 1]
    assert urlsplit(bff.redis_url).port == int(redis_port)
    assert urlsplit(compose_authserver_settings().redis_url).port == int(redis_port)
    for name, service in compose()["services"].items():
        if "healthcheck" in service and name != "redis":
            port = re.search(r"127\.0\.0\.1:(\d+)/healthz", str(service["healthcheck"]["test"]))
            assert port and port.group(1) in command(name), name


def test_authserver_keys_live_on_a_volume() -> None:
    service = compose()["services"]["authserver"]
    key_dir = service["environment"]["BFF_AUTHSERVER_KEY_DIR"]
    assert any(v.endswith(f":{key_dir}") for v in service["volumes"])
    assert any(ins.keyword == "RUN" and key_dir in ins.arguments for ins in final_stage())

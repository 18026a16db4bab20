"""The I/O-free core stays free of I/O libraries: each ``bff.sansio`` module is imported in a
fresh interpreter, and none of the framework or network libraries may come along."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import bff.sansio

IO_LIBRARIES = ("flask", "werkzeug", "redis", "urllib3", "requests", "authlib")
MODULES = sorted(f"bff.sansio.{m.name}" for m in pkgutil.iter_modules(bff.sansio.__path__))


def test_the_core_has_modules_to_check() -> None:
    assert {"bff.sansio.proxy_rules", "bff.sansio.security", "bff.sansio.oidc_rules",
            "bff.sansio.redis_url"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_sansio_module_loads_no_io_library(module: str) -> None:
    probe = (f"import {module}, sys; print(sorted(m for m in sys.modules "
             f"if m.split('.')[0] in {set(IO_LIBRARIES)!r}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]", f"{module} loads {result.stdout.strip()}"

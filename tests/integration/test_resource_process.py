"""The demo API as its own process (``python -m bff.resource``): serves, then stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from bff.resource.testing import LocalIssuer
from tests.support import ROOT, free_port, wait_for_port


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as issuer:
        yield issuer


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_demo_api_process_serves_and_exits_cleanly_on_signal(issuer: LocalIssuer,
                                                             stop_signal: signal.Signals) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bff.resource", "--issuer", issuer.url, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc=process)
        api = f"http://127.0.0.1:{port}"
        assert requests.get(f"{api}/healthz", timeout=10).status_code == 200
        headers = {"Authorization": f"Bearer {issuer.mint('alice')}"}
        assert requests.get(f"{api}/orders", headers=headers, timeout=10).json() == {"orders": []}
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output.decode(errors="replace")
    assert b"Traceback" not in output

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bff.sansio.devices import BROWSERS, SYSTEMS, describe_device


@pytest.mark.parametrize(("agent", "described"), [
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
     "Safari/537.36", "Chrome on Linux"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0 Safari/537.36 Edg/131.0", "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 "
     "Mobile/15E148 Safari/604.1", "Safari on iOS"),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "Firefox on Android"),
    ("curl/8.5.0", "A browser"),
    ("", "A browser"),
])
def test_a_coarse_description_of_the_browser(agent: str, described: str) -> None:
    assert describe_device(agent) == described


BROWSER_NAMES = [name for _, name in BROWSERS] + ["A browser"]
VOCABULARY = set(BROWSER_NAMES) | {f"{b} on {s}" for b in BROWSER_NAMES for _, s in SYSTEMS}


@given(st.text(max_size=2000))
def test_any_agent_gives_a_description_from_a_fixed_vocabulary(agent: str) -> None:
    """Nothing the browser sent is echoed: the description is always one of a few words."""
    assert describe_device(agent) in VOCABULARY

"""A coarse, human description of the browser a session was opened from ("Chrome on Linux"),
for the list of the user's sessions. Coarse on purpose: enough to recognise one's own devices,
nothing that fingerprints; an unknown agent is just "A browser"."""

from __future__ import annotations

# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
           ("Linux", "Linux"))
MAX_AGENT = 512


def describe_device(user_agent: str) -> str:
    agent = user_agent[:MAX_AGENT]
    browser = next((name for marker, name in BROWSERS if marker in agent), "A browser")
    system = next((name for marker, name in SYSTEMS if marker in agent), None)
    return f"{browser} on {system}" if system else browser

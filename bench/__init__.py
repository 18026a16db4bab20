"""The benchmark harness: ``python -m bench`` (bench/README.md)."""

SCENARIOS = ("direct", "bare", "api", "user", "moderate", "storm", "logins", "peer", "scale",
             "edge")

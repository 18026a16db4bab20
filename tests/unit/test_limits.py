"""Abuse-limit decisions: which address is counted, how the sliding window counts, and that a
limit's counters share one Redis Cluster slot."""

from __future__ import annotations

import ipaddress

import pytest
from redis.crc import key_slot

from bff.limits import client_address, sliding_count, window_keys

PROXIES = (ipaddress.ip_network("10.0.0.0/8"),)


def test_direct_client_is_counted_by_its_address() -> None:
    assert client_address("203.0.113.9", "", PROXIES) == "203.0.113.9"


def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_nearest_untrusted_hop_is_counted() -> None:
    assert client_address("10.0.0.2", "198.51.100.7", PROXIES) == "198.51.100.7"


def test_a_client_cannot_escape_its_counter_by_prepending_addresses() -> None:
    chain = "1.2.3.4, 5.6.7.8, 198.51.100.7, 10.0.0.3"
    assert client_address("10.0.0.2", chain, PROXIES) == "198.51.100.7"


def test_loopback_peers_are_not_counted_unless_a_trusted_proxy_names_a_client() -> None:
    assert client_address("127.0.0.1", "", ()) is None
    assert client_address("::1", "198.51.100.7", ()) is None
    loopback_proxy = (ipaddress.ip_network("127.0.0.1/32"),)
    assert client_address("127.0.0.1", "198.51.100.7", loopback_proxy) == "198.51.100.7"
    assert client_address("127.0.0.1", "", loopback_proxy) is None


def test_sliding_window_weights_the_previous_minute_by_its_overlap() -> None:
    assert sliding_count(previous=60, current=0, now=0.0, window=60) == 60
    assert sliding_count(previous=60, current=10, now=30.0, window=60) == 40
    assert sliding_count(previous=60, current=10, now=59.0, window=60) == pytest.approx(11)


def test_a_burst_at_a_window_edge_is_still_limited() -> None:
    """A fixed window would allow 2 x limit across the edge; this one does not."""
    limit = 30
    assert sliding_count(previous=limit, current=limit, now=60.5, window=60) > limit


def test_window_counters_share_a_slot_and_never_name_the_address() -> None:
    current, previous = window_keys("login", "198.51.100.7", now=125.0, window=60)
    assert current.endswith(":2") and previous.endswith(":1")
    assert key_slot(current.encode()) == key_slot(previous.encode())
    assert "198.51.100.7" not in current

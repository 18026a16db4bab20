"""The demo API's order rules: body validation and per-user isolation in the store."""

from __future__ import annotations

import pytest

from bff.resource.demo_api import (
    MAX_ORDERS_PER_USER,
    InvalidOrder,
    NewOrder,
    OrderLimitReached,
    OrderStore,
    parse_new_order,
)


@pytest.mark.parametrize(("body", "message"), [
    (None, "JSON object"),
    ([], "JSON object"),
    ("item", "JSON object"),
    ({"quantity": 1}, "item is required"),
    ({"item": "tea"}, "quantity is required"),
    ({"item": 5, "quantity": 1}, "item must be a string"),
    ({"item": "   ", "quantity": 1}, "must not be empty"),
    ({"item": "x" * 201, "quantity": 1}, "at most 200"),
    ({"item": "tea", "quantity": "2"}, "integer"),
    ({"item": "tea", "quantity": 2.0}, "integer"),
    ({"item": "tea", "quantity": True}, "integer"),
    ({"item": "tea", "quantity": 0}, "from 1 to 1000"),
    ({"item": "tea", "quantity": 1001}, "from 1 to 1000"),
    ({"item": "tea", "quantity": -5}, "from 1 to 1000"),
])
def test_bad_order_bodies_are_refused_with_a_clear_message(body: object, message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        parse_new_order(body)


def test_good_order_body_is_accepted_at_the_bounds() -> None:
    assert parse_new_order({"item": " tea ", "quantity": 1}) == NewOrder("tea", 1)
    assert parse_new_order({"item": "x" * 200, "quantity": 1000}).quantity == 1000


def test_owners_never_see_each_others_orders() -> None:
    store = OrderStore()
    order = store.add("alice", NewOrder("tea", 2))
    assert store.list_for("alice") == [order]
    assert store.list_for("bob") == []
    assert store.get("bob", order.id) is None
    assert store.get("alice", order.id) == order


def test_one_owner_cannot_fill_the_memory() -> None:
    store = OrderStore()
    for _ in range(MAX_ORDERS_PER_USER):
        store.add("alice", NewOrder("tea", 1))
    with pytest.raises(OrderLimitReached):
        store.add("alice", NewOrder("tea", 1))
    store.add("bob", NewOrder("tea", 1))

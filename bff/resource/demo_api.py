"""The demo "orders" API: each caller sees and creates only their own orders.

Orders live in this process's memory, keyed by the token's ``sub``: a restart forgets them and
several worker processes would not share them, which is what a demo needs and no more. A new user
starts with an empty list.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from bff.resource.protect import current_token, init_app, require_token
from bff.resource.revocations import RevocationList
from bff.resource.service_client import ServiceClient, ServiceTokenError
from bff.resource.settings import IntrospectionSettings, ValidatorSettings
from bff.resource.validation import AccessToken, TokenValidator

log = logging.getLogger(__name__)

MAX_ITEM_LENGTH = 200
MIN_QUANTITY, MAX_QUANTITY = 1, 1000
#: Bounds the memory one user can take in this in-memory store.
MAX_ORDERS_PER_USER = 1000
MAX_BODY_BYTES = 16 * 1024


class InvalidOrder(ValueError):
    """A POST body that is not an order; the message is shown to the caller."""


@dataclass(frozen=True)
class NewOrder:
    item: str
    quantity: int


@dataclass(frozen=True)
class Order:
    id: str
    owner: str
    item: str
    quantity: int
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "item": self.item, "quantity": self.quantity,
                "created_at": self.created_at}


def parse_new_order(body: object) -> NewOrder:
    """Accepts ``{"item": str, "quantity": int}``; other fields are ignored."""
    if not isinstance(body, Mapping):
        raise InvalidOrder("the body must be a JSON object with item and quantity")
    if "item" not in body:
        raise InvalidOrder("item is required")
    if "quantity" not in body:
        raise InvalidOrder("quantity is required")
    item, quantity = body["item"], body["quantity"]
    if not isinstance(item, str):
        raise InvalidOrder("item must be a string")
    item = item.strip()
    if not item:
        raise InvalidOrder("item must not be empty")
    if len(item) > MAX_ITEM_LENGTH:
        raise InvalidOrder(f"item must be at most {MAX_ITEM_LENGTH} characters")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidOrder("quantity must be an integer")
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise InvalidOrder(f"quantity must be from {MIN_QUANTITY} to {MAX_QUANTITY}")
    return NewOrder(item=item, quantity=quantity)


class OrderLimitReached(Exception):
    pass


class OrderStore:
    """Orders per owner, in memory; one lock is plenty for a demo."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_owner: dict[str, list[Order]] = {}

    def list_for(self, owner: str) -> list[Order]:
        with self._lock:
            return list(self._by_owner.get(owner, ()))

    def get(self, owner: str, order_id: str) -> Order | None:
        return next((o for o in self.list_for(owner) if o.id == order_id), None)

    def add(self, owner: str, new: NewOrder) -> Order:
        order = Order(
            id=str(uuid.uuid4()), owner=owner, item=new.item, quantity=new.quantity,
            created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        with self._lock:
            orders = self._by_owner.setdefault(owner, [])
            if len(orders) >= MAX_ORDERS_PER_USER:
                raise OrderLimitReached()
            orders.append(order)
        return order


def _error(status: int, code: str, description: str):
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    return response


def whoami(token: AccessToken) -> dict[str, Any]:
    """What a demo API received, for `bff audit --audience-probe`: the token's audience, user,
    actor and scheme, never the token itself."""
    scheme = request.headers.get("Authorization", "").partition(" ")[0]
    return {"aud": list(token.audiences) if len(token.audiences) > 1 else token.audiences[0],
            "sub": token.sub, "act": token.actor, "token_type": scheme}


def error_handlers(app: Flask, name: str) -> None:
    """JSON errors with an OAuth-style code, never a stack trace."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return _error(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unexpected error in %s", name)
        return _error(500, "server_error", "the server could not handle the request")


class StockCheck:
    """The orders API asking the inventory API, on the user's behalf (RFC 8693), whether an
    order can be served: the user's token is exchanged for one meant for the inventory API."""

    def __init__(self, inventory_url: str, client: ServiceClient) -> None:
        self._url = inventory_url.rstrip("/")
        self._client = client
        self._http = requests.Session()

    def available(self, user_token: str, item: str) -> int:
        """Units in stock; raises StockUnavailable when the inventory or the exchange fails."""
        try:
            token = self._client.on_behalf_of(user_token, self._url)
            url = f"{self._url}/inventory/{quote(item, safe='')}"
            answer = self._http.get(url, timeout=5, headers=self._client.authorization_headers(
                token, "GET", url))
        except (ServiceTokenError, requests.RequestException) as exc:
            raise StockUnavailable(str(exc)) from exc
        if answer.status_code != 200:
            raise StockUnavailable(f"the inventory API answered {answer.status_code}")
        return int(answer.json()["available"])


class StockUnavailable(Exception):
    pass


def create_app(issuer: str, audience: str = "demo-api",
               introspection: IntrospectionSettings | None = None,
               stock: StockCheck | None = None,
               revocations: RevocationList | None = None, dpop: str = "allowed") -> Flask:
    """The orders API trusting tokens from ``issuer`` made for ``audience``; with ``stock``, an
    order is placed only when the inventory has enough; with ``revocations``, tokens the
    provider revoked are refused at once."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    validator = TokenValidator(
        ValidatorSettings(issuer=issuer, audience=audience, dpop=dpop),
        introspection=introspection,
        revocations=revocations,
    )
    init_app(app, validator, realm=audience)
    store = OrderStore()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/orders")
    @require_token("orders:read")
    def list_orders():
        orders = store.list_for(current_token().sub)
        return {"orders": [order.to_json() for order in orders]}

    @app.get("/orders/whoami")
    @require_token()
    def who():
        return whoami(current_token())

    @app.get("/orders/<order_id>")
    @require_token("orders:read")
    def get_order(order_id: str):
        order = store.get(current_token().sub, order_id)
        if order is None:
            return _error(404, "not_found", "no such order")
        return order.to_json()

    @app.post("/orders")
    @require_token("orders:write")
    def create_order():
        try:
            new = parse_new_order(request.get_json(silent=True))
        except InvalidOrder as exc:
            return _error(400, "invalid_request", str(exc))
        if stock is not None:
            bearer = request.headers.get("Authorization", "").partition(" ")[2]
            try:
                available = stock.available(bearer, new.item)
            except StockUnavailable as exc:
                log.warning("stock check failed: %s", exc)
                return _error(503, "inventory_unavailable", "the stock could not be checked")
            if available < new.quantity:
                return _error(409, "out_of_stock", f"only {available} of {new.item} in stock")
        try:
            order = store.add(current_token().sub, new)
        except OrderLimitReached:
            return _error(409, "order_limit_reached",
                          f"at most {MAX_ORDERS_PER_USER} orders per user in this demo")
        return order.to_json(), 201

    error_handlers(app, "the demo API")
    return app

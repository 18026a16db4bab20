"""The demo "inventory" API: stock levels, for the orders API's stock check and for users with
the `stock-viewer` role (the BFF's route requires it).

Its audience is its own base URL (a resource indicator, RFC 8707), so a token the BFF obtained
for the orders API is refused here, and the orders API reaches it only with a token exchanged
on the user's behalf (RFC 8693), which names the orders API as the actor.
"""

from __future__ import annotations

from flask import Flask

from bff.resource.demo_api import error_handlers, whoami
from bff.resource.protect import current_token, init_app, require_token
from bff.resource.revocations import RevocationList
from bff.resource.settings import ValidatorSettings
from bff.resource.validation import TokenValidator

STOCK = {"widget": 42, "gadget": 7, "gizmo": 0, "sprocket": 120}
#: What the demo's warehouse holds of anything it has no line for (orders of any item work).
OTHER_ITEMS = 100


def create_inventory_app(issuer: str, audience: str,
                         revocations: RevocationList | None = None,
                         dpop: str = "allowed") -> Flask:
    """The inventory API trusting tokens from ``issuer`` made for ``audience``."""
    app = Flask(__name__)
    init_app(app, TokenValidator(ValidatorSettings(issuer=issuer, audience=audience, dpop=dpop),
                                 revocations=revocations), realm="inventory")

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/inventory")
    @require_token("orders:read")
    def list_stock():
        return {"items": [{"item": item, "available": n} for item, n in STOCK.items()]}

    @app.get("/inventory/whoami")
    @require_token()
    def who():
        return whoami(current_token())

    @app.get("/inventory/<item>")
    @require_token("orders:read")
    def stock_of(item: str):
        token = current_token()
        return {"item": item, "available": STOCK.get(item, OTHER_ITEMS),
                "asked_by": token.actor or token.sub}

    error_handlers(app, "the inventory API")
    return app

"""Orders' part in every call: the menu's names ready for the scripted brain when an ordering
call starts, and a cart left without checkout recorded when it ends."""

from __future__ import annotations

from calls.hooks import on_call_end, on_call_start
from calls.tools import ToolContext
from orders.cart import Cart
from orders.catalog import load_catalog, menu_for_agent
from orders.models import AbandonedCart


@on_call_start
def load_menu(ctx: ToolContext) -> None:
    """Read the agent's menu (if it has one) so the scripted brain can match names from the
    first sentence; the tools read it again, live, whenever they run."""
    menu = menu_for_agent(ctx.agent_id, ctx.tenant_id)
    if menu is not None:
        ctx.state(Cart).catalog = load_catalog(menu)


@on_call_end
def record_abandoned_cart(ctx: ToolContext, outcome: str) -> None:
    """A call that ends with something in its cart but no order leaves an AbandonedCart (once:
    one per call), so the shop sees what was nearly ordered."""
    cart = ctx.state_if_any(Cart)
    if cart is None or cart.catalog is None or cart.order_id is not None:
        return
    if not cart.lines and cart.staged is None:
        return
    AbandonedCart.objects.update_or_create(
        call_id=ctx.call_id,
        defaults={
            "tenant_id": ctx.tenant_id,
            "menu_id": cart.catalog.menu_id,
            "lines": [line.as_data() for line in cart.lines],
            "staged": cart.staged.as_data() if cart.staged else None,
            "total": cart.total,
            "outcome": outcome or "",
        },
    )

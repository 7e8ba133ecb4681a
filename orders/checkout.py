"""Finishing an order on the phone: the number to text, checkout, and order status.

Checkout goes through `orders.actions.place_order`, which checks availability once more under
lock, numbers the order and sends `order_changed` on commit (the "received" text hangs off that
signal; nothing here sends texts).
"""

from __future__ import annotations

import phonenumbers
from django.utils import timezone

from calls.tools import ToolContext, ToolResult
from orders.actions import LineDraft, OrderRefused, place_order
from orders.cart import (
    ASKED_CHECKOUT,
    ASKED_CONFIRM_ITEM,
    ASKED_MORE,
    ASKED_NOTHING,
    ASKED_PHONE,
    ASKED_PHONE_NUMBER,
    Cart,
    Problem,
    open_catalog,
    refuse,
)
from orders.catalog import money, spoken_digits
from orders.models import Menu, Order, OrderStatus
from orders.numbers import business_date
from voiceapp.models import Tenant

ASK_NUMBER = "What number should I text when it's ready? Please say it digit by digit."


def _region(caller: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(caller)) or "US"
    except phonenumbers.NumberParseException:
        return "US"


def parse_phone(text: str, caller: str = "") -> str | None:
    """`text` as an E.164 number, read in the caller's country by default; None if invalid."""
    try:
        number = phonenumbers.parse(text, _region(caller))
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def spoken_phone(e164: str) -> str:
    """ "4 1 5, 5 5 5, 0 1 9 9": the national groups, digit by digit."""
    number = phonenumbers.parse(e164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    groups = [g for g in "".join(c if c.isdigit() else " " for c in national).split() if g]
    return ", ".join(spoken_digits(g) for g in groups)


def propose_phone(ctx: ToolContext, cart: Cart) -> ToolResult:
    """Offer to text the caller ID (the caller says yes or gives another number)."""
    caller = parse_phone(ctx.caller, ctx.caller) if ctx.caller else None
    total = f"That's {cart.summary()}. " if cart.lines else ""
    if caller is None:
        cart.proposed_phone, cart.asked = "", ASKED_PHONE_NUMBER
        return ToolResult(
            {"ok": True, "needs": "phone", "cart": cart.as_data()}, say=total + ASK_NUMBER
        )
    cart.proposed_phone, cart.asked = caller, ASKED_PHONE
    ending = spoken_digits(caller[-4:])
    return ToolResult(
        {
            "ok": True,
            "proposed_phone": caller,
            "needs": "phone_confirmation",
            "cart": cart.as_data(),
        },
        say=f"{total}Shall I text the number you're calling from, ending {ending}, "
        "when it's ready?",
    )


def confirm_phone(
    ctx: ToolContext, cart: Cart, number: str | None = None, confirmed: bool | None = None
) -> ToolResult:
    """Settle the number to text. No arguments: offer the caller ID. `number`: read a new one
    back (or take it, with `confirmed`). `confirmed` alone: the caller's yes or no to the
    number last read back."""
    if number:
        parsed = parse_phone(number, ctx.caller)
        if parsed is None:
            cart.asked = ASKED_PHONE_NUMBER
            return refuse(
                "invalid_phone",
                "Sorry, that doesn't sound like a full phone number. "
                "Could you say it again, digit by digit?",
                heard=number,
            )
        cart.proposed_phone = parsed
        if not confirmed:
            cart.asked = ASKED_PHONE
            return ToolResult(
                {"ok": True, "proposed_phone": parsed, "needs": "phone_confirmation"},
                say=f"I have {spoken_phone(parsed)}. Is that right?",
            )
    if confirmed is False:
        cart.proposed_phone, cart.asked = "", ASKED_PHONE_NUMBER
        return ToolResult({"ok": True, "needs": "phone"}, say=f"No problem. {ASK_NUMBER}")
    if confirmed and cart.proposed_phone:
        cart.phone, cart.asked = cart.proposed_phone, ASKED_CHECKOUT
        if not cart.lines:
            cart.asked = ASKED_NOTHING
            return ToolResult(
                {"ok": True, "phone": cart.phone}, say="Thanks. What would you like to order?"
            )
        return ToolResult(
            {"ok": True, "phone": cart.phone, "cart": cart.as_data()},
            say=f"Thanks. That's {cart.summary()}. Shall I place the order?",
        )
    return propose_phone(ctx, cart)


def checkout(ctx: ToolContext, cart: Cart) -> ToolResult:
    """Place the order (once per call: a repeat gets the same order back) and say its number
    digit by digit and the total. Refuses an empty cart, an item still waiting for a yes, or a
    phone number not yet confirmed; an item sold out meanwhile is said, and the cart kept."""
    if cart.order_id is not None:
        order = Order.objects.get(pk=cart.order_id)
        return _placed(cart, order, again=True)
    try:
        catalog = open_catalog(ctx, cart)
    except Problem as problem:
        return problem.result()
    if cart.staged is not None:
        cart.asked = ASKED_CONFIRM_ITEM
        return refuse(
            "item_pending",
            f"First, shall I add {cart.staged.describe()}?",
            staged=cart.staged.as_data(),
        )
    if not cart.lines:
        existing = Order.objects.filter(call_id=ctx.call_id).first()
        if existing is not None:  # the cart was lost (a restarted brain): the order was not
            return _placed(cart, existing, again=True)
        cart.asked = ASKED_NOTHING
        return refuse("empty_cart", "Your cart is empty. What would you like to order?")
    if not cart.phone:
        proposal = propose_phone(ctx, cart)
        return ToolResult(
            {**proposal.data, "ok": False, "error": "phone_unconfirmed"},
            say="Before I place the order: " + proposal.say[0].lower() + proposal.say[1:],
        )
    menu = Menu.objects.select_related("tenant").get(pk=catalog.menu_id)
    drafts = [LineDraft(line.item_id, list(line.choice_ids), line.quantity) for line in cart.lines]
    try:
        order, _ = place_order(menu=menu, lines=drafts, phone=cart.phone, call_id=ctx.call_id)
    except OrderRefused as refused:
        cart.asked = ASKED_MORE
        return refuse(
            refused.reason,
            f"{refused.message} Would you like to change your order?",
            cart=cart.as_data(),
            **refused.data,
        )
    return _placed(cart, order)


def _placed(cart: Cart, order: Order, again: bool = False) -> ToolResult:
    cart.order_id, cart.order_number, cart.asked = order.pk, order.number, ASKED_NOTHING
    opening = "Your order is already in." if again else "Your order is in."
    return ToolResult(
        {
            "ok": True,
            "order_number": order.number,
            "total": str(order.total),
            "repeated": again,
        },
        say=f"{opening} Your order number is {order.spoken_number}, and the total is "
        f"{money(order.total)}. We'll text you when it's ready. Anything else?",
    )


STATUS_WORDS = {
    OrderStatus.RECEIVED: "has been received and is in the queue",
    OrderStatus.IN_PROGRESS: "is being made right now",
    OrderStatus.READY: "is ready for pickup",
    OrderStatus.PICKED_UP: "has been picked up",
    OrderStatus.CANCELLED: "was cancelled",
}


def order_status(
    ctx: ToolContext, cart: Cart, number: str | None = None, phone: str | None = None
) -> ToolResult:
    """Where an order is, by its number (today's) or by phone (the caller ID by default)."""
    orders = Order.objects.filter(tenant_id=ctx.tenant_id)
    if number:
        digits = "".join(c for c in number if c.isdigit())
        today = business_date(Tenant.objects.get(pk=ctx.tenant_id))
        # numbers restart each day: today's order with that number, else the latest one
        found = orders.filter(number=digits).order_by("-business_date")
        order = found.filter(business_date=today).first() or found.first()
        asked_for = f"number {spoken_digits(digits)}"
    else:
        e164 = parse_phone(phone, ctx.caller) if phone else parse_phone(ctx.caller, ctx.caller)
        order = orders.filter(phone=e164).order_by("-created_at").first() if e164 else None
        asked_for = "for your number"
    if order is None:
        return refuse(
            "order_not_found",
            f"Sorry, I can't find an order {asked_for}. Could you tell me the order number?",
        )
    cart.asked = ASKED_MORE if cart.lines else ASKED_NOTHING
    age = timezone.now() - order.created_at
    return ToolResult(
        {
            "ok": True,
            "order_number": order.number,
            "status": order.status,
            "minutes_ago": int(age.total_seconds() // 60),
        },
        say=f"Order {order.spoken_number} {STATUS_WORDS[order.status]}. Anything else?",
    )

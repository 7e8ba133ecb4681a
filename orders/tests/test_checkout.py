"""Checkout: the phone number confirmed first, one order per call, the number said digit by
digit, a sold-out item said and the cart kept; order status; abandoned carts; and concurrent
checkouts never sharing a number."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection

from calls.models import Call
from calls.tools import ToolContext
from orders import checkout as checkout_steps
from orders.actions import change_status, set_availability
from orders.call_hooks import record_abandoned_cart
from orders.cart import Cart
from orders.models import AbandonedCart, Item, Order
from orders.staging import confirm_item, stage_item
from orders.tests.test_cart_fixtures import CALLER, boba, run


def _two_drinks(ctx) -> None:
    run(ctx, "stage_item", item="Taro milk tea", options={"Size": "Large", "Toppings": ["Boba"]})
    run(ctx, "confirm_item")
    run(ctx, "stage_item", item="Black milk tea")
    run(ctx, "confirm_item")


def _caller_id_confirmed(ctx) -> None:
    run(ctx, "confirm_phone")  # "Shall I text the number you're calling from...?"
    run(ctx, "confirm_phone", confirmed=True)  # "Yes."


@pytest.mark.django_db
def test_checkout_needs_items_and_a_confirmed_number_and_happens_once(world_a):
    _, ctx = boba(world_a)
    empty = run(ctx, "checkout")
    assert empty.data["error"] == "empty_cart" and "empty" in empty.say
    _two_drinks(ctx)
    unconfirmed = run(ctx, "checkout")
    assert unconfirmed.data["error"] == "phone_unconfirmed" and not Order.objects.exists()
    assert "the number you're calling from, ending 0 1 0 1" in unconfirmed.say
    run(ctx, "confirm_phone", confirmed=True)  # the yes to that question
    placed = run(ctx, "checkout")
    order = Order.objects.get(call=world_a.call)
    assert order.phone == CALLER and order.total == Decimal("7.25") + Decimal("5.50")
    assert [line.describe() for line in order.lines.all()] == [
        "1 x Taro milk tea (Large, Boba, Regular sweet, Regular ice)",
        "1 x Black milk tea (Small, Regular sweet, Regular ice)",
    ]
    assert f"Your order number is {' '.join(order.number)}, and the total is $12.75" in placed.say
    again = run(ctx, "checkout")
    assert again.data["order_number"] == order.number and again.data["repeated"]
    assert Order.objects.count() == 1
    late = run(ctx, "stage_item", item="Black milk tea")
    assert late.data["error"] == "order_placed"


@pytest.mark.django_db
def test_an_item_sold_out_before_checkout_is_said_and_the_cart_kept(world_a):
    menu, ctx = boba(world_a)
    _two_drinks(ctx)
    _caller_id_confirmed(ctx)
    set_availability(Item.objects.get(menu=menu, name="Taro milk tea"), False)
    result = run(ctx, "checkout")
    assert result.data["error"] == "sold_out"
    assert result.say == "Sorry, Taro milk tea just sold out. Would you like to change your order?"
    assert len(ctx.state(Cart).lines) == 2 and not Order.objects.exists()
    run(ctx, "remove_cart_line", line=1)
    assert run(ctx, "checkout").data["ok"]


@pytest.mark.django_db
def test_a_new_phone_number_is_parsed_and_read_back(world_a):
    _, ctx = boba(world_a)
    unasked = run(ctx, "confirm_phone", confirmed=True)  # a yes to nothing read back
    assert ctx.state(Cart).phone == "" and unasked.data["needs"] == "phone_confirmation"
    bad = run(ctx, "confirm_phone", number="415555")
    assert bad.data["error"] == "invalid_phone" and "digit by digit" in bad.say
    read_back = run(ctx, "confirm_phone", number="(415) 555-0199")
    assert read_back.say == "I have 4 1 5, 5 5 5, 0 1 9 9. Is that right?"
    assert ctx.state(Cart).phone == ""
    run(ctx, "confirm_phone", confirmed=True)
    assert ctx.state(Cart).phone == "+14155550199"


@pytest.mark.django_db
def test_order_status_by_number_and_phone_within_the_tenant(world_a, world_b):
    _, ctx = boba(world_a)
    _two_drinks(ctx)
    _caller_id_confirmed(ctx)
    run(ctx, "checkout")
    order = Order.objects.get()
    change_status(order.pk, "ready", by="staff")
    by_number = run(ctx, "order_status", number=order.number)
    assert by_number.say == f"Order {order.spoken_number} is ready for pickup. Anything else?"
    assert run(ctx, "order_status").data["order_number"] == order.number  # the caller ID
    _, other = boba(world_b, caller=CALLER)  # another shop: the same number and caller
    assert run(other, "order_status", number=order.number).data["error"] == "order_not_found"
    assert run(other, "order_status").data["error"] == "order_not_found"


@pytest.mark.django_db
def test_a_call_ending_without_checkout_leaves_an_abandoned_cart(world_a):
    menu, ctx = boba(world_a)
    run(ctx, "stage_item", item="Black milk tea")
    run(ctx, "confirm_item")
    run(ctx, "stage_item", item="Taro milk tea")
    record_abandoned_cart(ctx, "caller_hung_up")
    record_abandoned_cart(ctx, "caller_hung_up")  # hooks may run late or twice: one row
    abandoned = AbandonedCart.objects.get(call=world_a.call)
    assert abandoned.menu == menu and abandoned.tenant == world_a.tenant
    assert [line["item"] for line in abandoned.lines] == ["Black milk tea"]
    assert abandoned.staged["item"] == "Taro milk tea" and abandoned.total == Decimal("5.50")
    assert abandoned.outcome == "caller_hung_up"


@pytest.mark.django_db
def test_no_abandoned_cart_after_checkout_or_without_a_cart(world_a):
    _, ctx = boba(world_a)
    record_abandoned_cart(ctx, "caller_hung_up")  # an empty cart
    _two_drinks(ctx)
    _caller_id_confirmed(ctx)
    run(ctx, "checkout")
    record_abandoned_cart(ctx, "agent_ended")
    plain = ToolContext(
        call_id=world_a.call.pk, tenant_id=world_a.tenant.pk, agent_id=None, caller=""
    )
    record_abandoned_cart(plain, "agent_ended")  # not an ordering call
    assert not AbandonedCart.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_never_share_an_order_number(world_a):
    _, base = boba(world_a)
    calls = [
        Call.objects.create(
            tenant=world_a.tenant,
            agent=world_a.agent,
            direction=Call.Direction.INBOUND,
            from_number=CALLER,
            to_number=world_a.number.number,
            twilio_call_sid=f"CA{n:032d}",
        )
        for n in range(40)
    ]
    numbers: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def shop(batch: list[Call]) -> None:
        try:
            start.wait()
            for call in batch:
                ctx = ToolContext(
                    call_id=call.pk,
                    tenant_id=base.tenant_id,
                    agent_id=base.agent_id,
                    caller=CALLER,
                )
                cart = ctx.state(Cart)
                stage_item(ctx, cart, item="Black milk tea")
                confirm_item(ctx, cart)
                cart.phone = CALLER
                result = checkout_steps.checkout(ctx, cart)
                numbers.append(result.data["order_number"])
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=shop, args=(calls[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(numbers) == 40 and len(set(numbers)) == 40
    assert sorted(int(n) for n in numbers) == list(range(101, 141))

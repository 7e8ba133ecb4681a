"""The scripted brain takes whole orders through the ordering tools, from sentences as whisper
writes them (punctuation, split sentences, "Yeah.", digits or number words)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.cart import Cart
from orders.models import Order
from orders.phrases import answer_kind, digits_in
from orders.tests.test_cart_fixtures import boba, brain_turn

pytestmark = pytest.mark.django_db


def test_a_whole_order_from_whisper_transcripts(world_a):
    _, ctx = boba(world_a)
    cart = ctx.state(Cart)

    calls, said = brain_turn(ctx, "What do you have?")
    assert calls == [("menu_question", {"ask": "list"})]
    assert "taro milk tea" in said and "black milk tea" in said

    # whisper cut one order into three sentences: staged, then changed twice
    calls, said = brain_turn(ctx, "A large tarot milk tea with Boba. Half-sweet. Less ice.")
    assert [c[0] for c in calls] == ["stage_item", "change_staged_item", "change_staged_item"]
    assert cart.staged.options == {
        "Size": ["Large"],
        "Toppings": ["Boba"],
        "Sweetness": ["Half sweet"],
        "Ice": ["Less ice"],
    }
    assert said.endswith("Shall I add it?") and "$7.25" in said
    assert said.count("Shall I add it?") == 1  # the drink read back once, as it now is
    assert "less ice" in said.lower()
    assert cart.lines == []  # nothing enters the cart without a yes

    calls, said = brain_turn(ctx, "Make it black milk tea.")
    assert calls == [("change_staged_item", {"item": "Black milk tea"})]
    assert cart.staged.name == "Black milk tea" and cart.staged.options["Toppings"] == ["Boba"]

    calls, said = brain_turn(ctx, "Yeah.")
    assert calls == [("confirm_item", {})] and said.endswith("Anything else?")
    assert [line.name for line in cart.lines] == ["Black milk tea"]

    calls, _ = brain_turn(ctx, "And two small taro milk teas with egg pudding, no ice.")
    assert calls[0][0] == "stage_item" and calls[0][1]["quantity"] == 2
    assert cart.staged.options["Ice"] == ["No ice"] and cart.staged.quantity == 2

    calls, said = brain_turn(ctx, "No.")  # to "Shall I add it?"
    assert calls == [("discard_staged_item", {})] and cart.staged is None

    brain_turn(ctx, "A small taro milk tea with egg pudding.")
    calls, said = brain_turn(ctx, "Correct. That's all.")
    assert [c[0] for c in calls] == ["confirm_item", "confirm_phone"]
    assert "ending 0 1 0 1" in said and said.endswith("when it's ready?")

    calls, said = brain_turn(ctx, "No.")  # not that number
    assert calls == [("confirm_phone", {"confirmed": False})]
    calls, said = brain_turn(ctx, "Four one five, five five five, zero one nine nine.")
    assert calls == [("confirm_phone", {"number": "4155550199"})]
    assert "4 1 5, 5 5 5, 0 1 9 9" in said and said.endswith("Is that right?")
    calls, said = brain_turn(ctx, "Yes.")
    assert calls == [("confirm_phone", {"confirmed": True})] and cart.phone == "+14155550199"
    assert said.endswith("Shall I place the order?")

    calls, said = brain_turn(ctx, "Yes, please.")
    assert calls == [("checkout", {})]
    order = Order.objects.get(call=world_a.call)
    assert f"Your order number is {' '.join(order.number)}" in said
    assert order.total == Decimal("7.25") + Decimal("6.25") and order.phone == "+14155550199"

    calls, _ = brain_turn(ctx, "That's all, goodbye.")
    assert calls == [("end_call", {})]  # after checkout, "that's all" is a goodbye


def test_rule_suggestion_yes_adds_what_is_required(world_a):
    _, ctx = boba(world_a)
    calls, said = brain_turn(ctx, "A taro milk tea with the matcha stencil.")
    assert calls[0][0] == "stage_item"
    assert "needs vanilla cream" in said and ctx.state(Cart).staged is None
    calls, said = brain_turn(ctx, "Yes.")
    staged = ctx.state(Cart).staged
    assert staged.options["Toppings"] == ["Vanilla cream"]
    assert staged.options["Add-ons"] == ["Matcha stencil"]


def test_cart_lines_are_changed_and_removed_by_what_the_caller_says(world_a):
    _, ctx = boba(world_a)
    cart = ctx.state(Cart)
    for text in ("A black milk tea.", "Yes.", "A taro milk tea.", "Yes."):
        brain_turn(ctx, text)
    calls, said = brain_turn(ctx, "Make the first one large.")
    assert calls == [("change_cart_line", {"line": 1, "options": {"Size": "Large"}})]
    brain_turn(ctx, "Yes.")
    assert cart.lines[0].options["Size"] == ["Large"] and len(cart.lines) == 2
    calls, said = brain_turn(ctx, "Remove the taro milk tea.")
    assert calls == [("remove_cart_line", {"line": 2})]
    assert [line.name for line in cart.lines] == ["Black milk tea"]
    calls, said = brain_turn(ctx, "What's in my order?")
    assert calls == []  # not a question the menu or cart tools claim: asked again


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Yes.", "yes"),
        ("Yeah.", "yes"),
        ("correct.", "yes"),
        ("Yes, please.", "yes"),
        ("No.", "no"),
        ("Nope.", "no"),
        ("That's all.", "done"),
        ("No, that's it, thanks.", "done"),
        ("Nothing else.", "done"),
        ("Yes, a large one.", None),
    ],
)
def test_answers(text, kind):
    from orders.catalog import words_of

    assert answer_kind(words_of(text), text.lower()) == kind


@pytest.mark.parametrize(
    "text",
    [
        "415-555-0199",
        "Four one five, five five five, zero one nine nine.",
        "4 1 5, 5 5 5, 0 1 9 9.",
        "four one five five five five oh one nine nine",
    ],
)
def test_phone_digits_as_whisper_writes_them(text):
    from orders.catalog import words_of

    assert digits_in(words_of(text)) == "4155550199"

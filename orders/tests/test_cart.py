"""The cart tools validate against the live menu and say what is wrong, changing nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.actions import set_availability
from orders.cart import Cart
from orders.models import Choice, Item, OpeningHours, OptionGroup
from orders.tests.test_cart_fixtures import boba, run

pytestmark = pytest.mark.django_db

LARGE_TARO = {
    "item": "Taro milk tea",
    "options": {"Size": "Large", "Toppings": ["Boba"], "Sweetness": "Half sweet"},
}


def test_an_item_is_staged_with_defaults_and_enters_the_cart_only_when_confirmed(world_a):
    _, ctx = boba(world_a)
    cart = ctx.state(Cart)
    result = run(ctx, "stage_item", **LARGE_TARO)
    assert result.data["ok"] and cart.lines == []
    assert cart.staged.options["Ice"] == ["Regular ice"]  # the group's default
    assert result.say == (
        "A taro milk tea: large, boba, half sweet, regular ice, $7.25. Shall I add it?"
    )
    run(ctx, "confirm_item")
    assert cart.staged is None and cart.total == Decimal("7.25")
    assert "$7.25 in total" in run(ctx, "read_cart").say


def test_unknown_item_names_the_valid_ones(world_a):
    from orders import staging

    _, ctx = boba(world_a)
    refused = run(ctx, "stage_item", item="Coffee")  # the per-call schema: an enum
    assert "is not one of ['Taro milk tea', 'Black milk tea']" in refused.data["error"]
    result = staging.stage_item(ctx, ctx.state(Cart), item="Espresso")
    assert result.data["error"] == "unknown_item"
    assert result.data["valid_items"] == ["Taro milk tea", "Black milk tea"]
    assert result.say.startswith("Sorry, we don't have Espresso. We have taro milk tea and")


def test_a_choice_that_breaks_a_rule_says_what_it_requires(world_a):
    _, ctx = boba(world_a)
    result = run(ctx, "stage_item", item="Taro milk tea", options={"Add-ons": "Matcha stencil"})
    assert result.data["error"] == "rule" and result.data["requires"] == "Vanilla cream"
    assert result.say.startswith("The matcha stencil needs vanilla cream.")
    assert ctx.state(Cart).staged is None
    ok = run(
        ctx,
        "stage_item",
        item="Taro milk tea",
        options={"Add-ons": "Matcha stencil", "Toppings": ["Vanilla cream"]},
    )
    assert ok.data["ok"] and ok.data["staged"]["unit_price"] == "6.75"


def test_too_many_picks_in_a_group(world_a):
    _, ctx = boba(world_a)
    four = ["Boba", "Egg pudding", "Crystal agar boba", "Vanilla cream"]
    result = run(ctx, "stage_item", item="Black milk tea", options={"Toppings": four})
    assert result.data["error"] == "too_many_picks" and result.data["max_picks"] == 3
    assert "at most 3 toppings" in result.say and ctx.state(Cart).staged is None


def test_a_missing_required_pick_without_a_default_is_asked_for(world_a):
    menu, ctx = boba(world_a)
    Choice.objects.filter(group__menu=menu, group__name="Size").update(is_default=False)
    result = run(ctx, "stage_item", item="Black milk tea")
    assert result.data["error"] == "missing_choice" and result.data["group"] == "Size"
    assert result.say == "What size would you like: small or large?"


def test_too_many_items_in_the_order(world_a):
    _, ctx = boba(world_a)
    result = run(ctx, "stage_item", item="Black milk tea", quantity=11)
    assert result.data["error"] == "too_many_items" and result.data["limit"] == 10
    run(ctx, "stage_item", item="Black milk tea", quantity=9)
    run(ctx, "confirm_item")
    result = run(ctx, "stage_item", item="Taro milk tea", quantity=2)
    assert result.data["error"] == "too_many_items" and "at most 10 drinks" in result.say
    assert ctx.state(Cart).count == 9


def test_an_item_sold_out_during_the_call_is_refused_at_once(world_a):
    menu, ctx = boba(world_a)
    run(ctx, "stage_item", **LARGE_TARO)
    set_availability(Item.objects.get(menu=menu, name="Taro milk tea"), False)  # staff, now
    result = run(ctx, "confirm_item")
    assert result.data["error"] == "sold_out" and "taro milk tea is sold out" in result.say
    assert ctx.state(Cart).lines == [] and ctx.state(Cart).staged is None
    again = run(ctx, "stage_item", item="Taro milk tea")
    assert again.data["error"] == "sold_out" and "We still have black milk tea" in again.say
    pudding = Choice.objects.get(group__menu=menu, name="Egg pudding")
    set_availability(pudding, False)
    topped = run(ctx, "stage_item", item="Black milk tea", options={"Toppings": ["Egg pudding"]})
    assert topped.data["error"] == "sold_out" and topped.data["unavailable"] == ["Egg pudding"]
    assert "sold out" in run(ctx, "menu_question", ask="available", choice="Egg pudding").say


def test_changes_to_the_staged_item_and_to_cart_lines(world_a):
    _, ctx = boba(world_a)
    cart = ctx.state(Cart)
    run(ctx, "stage_item", **LARGE_TARO)
    changed = run(ctx, "change_staged_item", item="Black milk tea", add=["Egg pudding"])
    assert changed.say.startswith("Now it's a black milk tea: large, boba, egg pudding")
    run(ctx, "change_staged_item", remove=["Boba"], options={"Size": "Small"})
    assert cart.staged.options["Toppings"] == ["Egg pudding"]
    assert cart.staged.options["Size"] == ["Small"]
    run(ctx, "confirm_item")
    run(ctx, "stage_item", item="Taro milk tea")
    run(ctx, "confirm_item")
    staged = run(ctx, "change_cart_line", line=1, options={"Size": "Large"})
    assert staged.say.endswith("Shall I make that change?") and len(cart.lines) == 2
    assert run(ctx, "discard_staged_item").say == "OK, line 1 stays as it was. Anything else?"
    assert cart.lines[0].options["Size"] == ["Small"]
    run(ctx, "change_cart_line", line=1, options={"Size": "Large"})
    run(ctx, "confirm_item")
    assert cart.lines[0].options["Size"] == ["Large"] and cart.lines[0].name == "Black milk tea"
    missing = run(ctx, "remove_cart_line", line=5)
    assert missing.data["error"] == "no_such_line" and len(cart.lines) == 2
    run(ctx, "remove_cart_line", line=1)
    assert [line.name for line in cart.lines] == ["Taro milk tea"]


def test_outside_opening_hours_no_order_is_taken_and_the_hours_are_said(world_a):
    menu, ctx = boba(world_a)
    now = timezone.now().astimezone(world_a.tenant.zone)
    tomorrow = (now + datetime.timedelta(days=1)).weekday()
    OpeningHours.objects.create(
        menu=menu, weekday=tomorrow, opens=datetime.time(7), closes=datetime.time(19)
    )
    result = run(ctx, "stage_item", item="Black milk tea")
    assert result.data["error"] == "closed" and ctx.state(Cart).staged is None
    assert "We open tomorrow at 7:00" in result.say and "7:00-19:00" in result.say
    answer = run(ctx, "menu_question", ask="list").say
    assert answer.startswith("We have taro milk tea") and "closed right now" in answer


def test_menu_questions(world_a):
    menu, ctx = boba(world_a)
    assert (
        "boba, egg pudding, crystal agar boba or vanilla cream, $0.75 each"
        in run(ctx, "menu_question", group="Toppings").say
    )
    price = run(ctx, "menu_question", ask="price", item="Taro milk tea").say
    assert price.startswith("A taro milk tea is $5.50") and "large is $1.00 more" in price
    other = run(ctx, "menu_question", ask="available", other="coffee").say
    assert other.startswith("Sorry, we don't have coffee. We have taro milk tea")
    group = OptionGroup.objects.get(menu=menu, name="Add-ons")
    assert group.choices.get().price == Decimal("0.50")

"""A small coffee shop's menu and one order, built for a tenant of the shared World fixture."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from orders.actions import LineDraft, place_order
from orders.models import (
    AbandonedCart,
    Category,
    Choice,
    ChoiceRule,
    Item,
    Menu,
    OpeningHours,
    OptionGroup,
    Order,
)


@dataclass
class Shop:
    menu: Menu
    category: Category
    hours: OpeningHours
    size: OptionGroup
    toppings: OptionGroup
    large: Choice
    cream: Choice
    stencil: Choice
    rule: ChoiceRule
    item: Item
    order: Order
    cart: AbandonedCart


def build_shop(world) -> Shop:
    slug = world.tenant.slug
    menu = Menu.objects.create(tenant=world.tenant, name=f"Drinks {slug}")
    menu.agents.add(world.agent)
    category = Category.objects.create(menu=menu, name=f"Coffee {slug}")
    hours = OpeningHours.objects.create(
        menu=menu, weekday=0, opens=datetime.time(8), closes=datetime.time(17)
    )
    size = OptionGroup.objects.create(menu=menu, name=f"Size {slug}", min_picks=1, max_picks=1)
    toppings = OptionGroup.objects.create(menu=menu, name=f"Toppings {slug}", max_picks=3)
    Choice.objects.create(group=size, name=f"Small {slug}", is_default=True)
    large = Choice.objects.create(group=size, name=f"Large {slug}", price=Decimal("1.00"))
    cream = Choice.objects.create(
        group=toppings, name=f"Vanilla cream {slug}", price=Decimal("0.50"), aliases="cream"
    )
    stencil = Choice.objects.create(group=toppings, name=f"Matcha stencil {slug}")
    rule = ChoiceRule.objects.create(menu=menu, choice=stencil, other=cream)
    item = Item.objects.create(
        menu=menu, category=category, name=f"Latte {slug}", price=Decimal("4.00")
    )
    item.option_groups.set([size, toppings])
    order, _ = place_order(
        menu=menu,
        lines=[LineDraft(item_id=item.pk, choice_ids=[large.pk])],
        phone=f"+1415555020{1 if slug == 'a' else 2}",
        call_id=world.call.pk,
    )
    cart = AbandonedCart.objects.create(
        tenant=world.tenant,
        menu=menu,
        call=world.call,
        lines=[{"name": f"Latte {slug}", "quantity": 1, "options": []}],
        total=Decimal("4.00"),
        outcome="caller_hung_up",
    )
    return Shop(
        menu, category, hours, size, toppings, large, cream, stencil, rule, item, order, cart
    )

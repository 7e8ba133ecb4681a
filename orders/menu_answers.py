"""Answers to menu questions (what do you have, what toppings, how much, is X available), read
from the live menu."""

from __future__ import annotations

from decimal import Decimal

from calls.tools import ToolContext, ToolResult
from orders.cart import ASKED_NOTHING, Cart, Problem, open_catalog
from orders.catalog import Catalog, GroupInfo, ItemInfo, best_name, choice_names, item_names, money
from orders.catalog import join_words as join


def _group_line(group: GroupInfo) -> str:
    names = [c.name.lower() for c in group.choices if c.available]
    prices = {c.price for c in group.choices if c.available}
    said = f"For {group.name.lower()} we have {join(names, 'or')}"
    if prices == {Decimal("0")}:
        return said + "."
    if len(prices) == 1:
        return f"{said}, {money(prices.pop())} each."
    extras = [f"{c.name.lower()} is {money(c.price)} more" for c in group.choices if c.price]
    return f"{said}; {join(extras)}."


def _item_price(catalog: Catalog, item: ItemInfo) -> str:
    extras = []
    for group in catalog.groups_of(item):
        priced = [c for c in group.choices if c.price and c.available]
        if not priced:
            continue
        if len({c.price for c in priced}) == 1 and len(priced) > 1:
            extras.append(f"{group.name.lower()} are {money(priced[0].price)} each")
        else:
            extras += [f"{c.name.lower()} is {money(c.price)} more" for c in priced]
    more = f"; {join(extras)}" if extras else ""
    return f"A {item.name.lower()} is {money(item.price)}{more}."


def _everything(catalog: Catalog) -> str:
    items = catalog.available_items()
    prices = {i.price for i in items}
    if not items:
        return "Sorry, everything is sold out right now."
    names = join([i.name.lower() for i in items])
    head = f"We have {names}, {money(prices.pop())} each." if len(prices) == 1 else ""
    if not head:
        head = "We have " + join([f"{i.name.lower()} at {money(i.price)}" for i in items]) + "."
    groups = [g.name.lower() for g in catalog.groups.values() if g.choices]
    choose = f" You can choose the {join(groups)}." if groups else ""
    return head + choose


def menu_question(
    ctx: ToolContext,
    cart: Cart,
    ask: str = "list",
    item: str | None = None,
    group: str | None = None,
    choice: str | None = None,
    other: str | None = None,
) -> ToolResult:
    """Answer a question about the menu. `ask`: list, price, available or hours; about an
    `item`, an option `group`, a `choice`, or `other` (something the shop may not sell)."""
    try:
        catalog = open_catalog(ctx, cart, ordering=False)
    except Problem as problem:
        return problem.result()
    found_item = catalog.item(item) if item else None
    found_group = catalog.group(group) if group else None
    found_choice = None
    if choice:
        found_choice = next(
            (
                c
                for g in catalog.groups.values()
                for c in g.choices
                if c.name.lower() == choice.lower()
            ),
            None,
        )
    if other and not (found_item or found_group or found_choice):
        name = best_name(other, item_names(catalog))
        found_item = catalog.item(name) if name else None
        if found_item is None:
            name = best_name(other, choice_names(catalog))
            found_choice = next(
                (c for g in catalog.groups.values() for c in g.choices if c.name == name), None
            )
        if found_item is None and found_choice is None:
            return ToolResult(
                {"ok": True, "sold_here": False, "asked": other},
                say=f"Sorry, we don't have {other}. "
                + _everything(catalog)
                + " What would you like?",
            )
    if ask == "hours":
        now = "We're open now." if catalog.open_now else "We're closed right now."
        hours = f" Our hours are {catalog.hours}." if catalog.hours else " We're open all day."
        say = now + hours
    elif found_item is not None:
        if ask == "available":
            say = (
                f"Yes, we have {found_item.name.lower()}."
                if found_item.available
                else f"Sorry, the {found_item.name.lower()} is sold out."
            )
        else:
            say = _item_price(catalog, found_item)
    elif found_choice is not None:
        if ask == "available" or not found_choice.available:
            say = (
                f"Yes, we have {found_choice.name.lower()}."
                if found_choice.available
                else f"Sorry, {found_choice.name.lower()} is sold out."
            )
        else:
            extra = f"{money(found_choice.price)} extra" if found_choice.price else "free"
            say = f"{found_choice.name.capitalize()} is {extra}."
    elif found_group is not None:
        say = _group_line(found_group)
    else:
        say = _everything(catalog)
    if not catalog.open_now:
        opens = f" We open {catalog.opens_next}." if catalog.opens_next else ""
        say += f" We're closed right now, so I can't take an order.{opens}"
        question = ""
    elif cart.staged is not None:
        question = f" Shall I add {cart.staged.describe()}?"
    elif cart.lines:
        question = " Anything else?"
    else:
        question = " What would you like?"
        cart.asked = ASKED_NOTHING
    return ToolResult({"ok": True, "answer": say.strip()}, say=(say + question).strip())

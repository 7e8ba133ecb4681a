"""The caller's cart: one per call (`ctx.state(Cart)`), filled through the agent's tools.

An item is first *staged* (understood and priced, read back to the caller) and enters the cart
only when the caller confirms it. Every operation validates against a fresh snapshot of the
menu (orders.catalog), so availability is always live, and answers with a ToolResult whose
`data` tells a language model what happened and whose `say` is a sentence ending with the next
question, for the scripted brain to speak as is. A refusal changes nothing.

The operations are plain functions run in the database thread (orders.tools wraps them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from calls.tools import ToolContext, ToolResult
from orders.catalog import (
    Catalog,
    GroupInfo,
    ItemInfo,
    best_name,
    item_names,
    join_words,
    load_catalog,
    menu_for_agent,
    money,
)

# What the agent last asked, so a bare "yes" or "no" can be understood (orders.phrases).
ASKED_CONFIRM_ITEM = "confirm_item"
ASKED_MORE = "more"
ASKED_SUGGESTION = "suggestion"
ASKED_PHONE = "phone"
ASKED_PHONE_NUMBER = "phone_number"
ASKED_CHECKOUT = "checkout"
ASKED_NOTHING = ""

Picks = dict[str, list[str]]  # option group name -> choice names


@dataclass
class CartLine:
    item_id: int
    name: str
    choice_ids: list[int]
    options: Picks
    quantity: int
    unit_price: Decimal
    replaces: int | None = None  # staged from cart line N (1-based): confirming puts it back

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity

    def describe(self) -> str:
        picked = [c.lower() for names in self.options.values() for c in names]
        head = f"{self.quantity} {self.name.lower()}" if self.quantity > 1 else self.name.lower()
        if self.quantity == 1:
            head = ("an " if head[0] in "aeiou" else "a ") + head
        return head + (": " + ", ".join(picked) if picked else "")

    def as_data(self) -> dict[str, Any]:
        return {
            "item": self.name,
            "quantity": self.quantity,
            "options": self.options,
            "unit_price": str(self.unit_price),
            "total": str(self.total),
        }


@dataclass
class Cart:
    """The call's cart. `catalog` is the menu as last read, for the scripted brain's matching."""

    catalog: Catalog | None = None
    lines: list[CartLine] = field(default_factory=list)
    staged: CartLine | None = None
    phone: str = ""  # confirmed by the caller, E.164
    proposed_phone: str = ""  # read back, waiting for a yes
    asked: str = ASKED_NOTHING
    # After a rule broke: the tool calls a "yes" and a "no" mean ("shall I add vanilla cream?")
    suggestion: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    order_id: int | None = None
    order_number: str = ""
    # The scripted brain's reading of the utterance the tools are about to act on
    # (orders.phrases); forgotten as soon as a tool runs.
    heard: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0"))

    def summary(self) -> str:
        drinks = "1 drink" if self.count == 1 else f"{self.count} drinks"
        return f"{drinks}, {money(self.total)} in total"

    def as_data(self) -> dict[str, Any]:
        return {
            "lines": [line.as_data() for line in self.lines],
            "staged": self.staged.as_data() if self.staged else None,
            "total": str(self.total),
            "phone_confirmed": bool(self.phone),
        }


class Problem(Exception):
    """What is wrong with a request, said so the caller can fix it."""

    def __init__(self, code: str, say: str, **data: Any) -> None:
        super().__init__(say)
        self.code, self.say, self.data = code, say, data

    def result(self) -> ToolResult:
        return refuse(self.code, self.say, **self.data)


def refuse(code: str, say: str, **data: Any) -> ToolResult:
    return ToolResult({"ok": False, "error": code, "message": say, **data}, say=say)


# ---------------------------------------------------------------------------- the menu, live


def open_catalog(ctx: ToolContext, cart: Cart, *, ordering: bool = True) -> Catalog:
    """The call's menu as it is now (kept on the cart for matching). Raises Problem when the
    agent has no menu, or (`ordering`) when the shop is closed."""
    menu = menu_for_agent(ctx.agent_id, ctx.tenant_id)
    if menu is None:
        raise Problem("no_menu", "Sorry, I can't take orders on this line.")
    catalog = cart.catalog = load_catalog(menu)
    if ordering and not catalog.open_now:
        opens = f" We open {catalog.opens_next}." if catalog.opens_next else ""
        raise Problem(
            "closed",
            f"Sorry, we're closed right now, so I can't take an order.{opens} "
            f"Our hours are {catalog.hours}.",
            hours=catalog.hours,
            opens_next=catalog.opens_next,
        )
    return catalog


def _find_item(catalog: Catalog, name: str) -> ItemInfo:
    item = catalog.item(name)
    if item is None:
        found = best_name(name, item_names(catalog))
        item = catalog.item(found) if found else None
    if item is None:
        valid = [i.name for i in catalog.available_items()]
        raise Problem(
            "unknown_item",
            f"Sorry, we don't have {name}. We have {join_words([v.lower() for v in valid])}. "
            "What would you like?",
            valid_items=valid,
        )
    if not item.available:
        others = [i.name.lower() for i in catalog.available_items() if i.id != item.id]
        also = f" We still have {join_words(others, 'or')}." if others else ""
        raise Problem(
            "sold_out",
            f"Sorry, the {item.name.lower()} is sold out.{also} What would you like?",
            unavailable=[item.name],
            valid_items=[i.name for i in catalog.available_items()],
        )
    return item


def _group_for_choice(groups: list[GroupInfo], name: str) -> GroupInfo | None:
    for group in groups:
        if group.choice(name) is not None:
            return group
    names = {c.name: [c.name, *c.aliases] for g in groups for c in g.choices}
    found = best_name(name, names)
    return next((g for g in groups if found and g.choice(found)), None)


def _canonical(group: GroupInfo, name: str) -> str | None:
    choice = group.choice(name)
    if choice is None:
        found = best_name(name, {c.name: [c.name, *c.aliases] for c in group.choices})
        choice = group.choice(found) if found else None
    return choice.name if choice else None


def normalize_picks(catalog: Catalog, item: ItemInfo, options: dict[str, Any] | None) -> Picks:
    """`options` ({group: choice or [choices]}) with the item's own group and choice names.
    Raises Problem for a group the item does not have or a choice its group does not offer."""
    groups = catalog.groups_of(item)
    picks: Picks = {}
    for group_name, value in (options or {}).items():
        group = next((g for g in groups if g.name.lower() == str(group_name).lower()), None)
        if group is None:
            raise Problem(
                "unknown_option",
                f"The {item.name.lower()} doesn't come with a {group_name} choice. "
                f"You can choose {join_words([g.name.lower() for g in groups])}.",
                valid_groups=[g.name for g in groups],
            )
        values = [value] if isinstance(value, str) else list(value or [])
        for name in values:
            canonical = _canonical(group, name)
            if canonical is None:
                valid = [c.name for c in group.choices if c.available]
                raise Problem(
                    "unknown_choice",
                    f"We don't have {name} for {group.name.lower()}. "
                    f"The choices are {join_words([v.lower() for v in valid], 'or')}.",
                    group=group.name,
                    valid_choices=valid,
                )
            picked = picks.setdefault(group.name, [])
            if canonical not in picked:
                picked.append(canonical)
    return picks


def flat_to_picks(catalog: Catalog, item: ItemInfo, names: list[str]) -> Picks:
    """Choice names said without their group ("boba", "large") placed in the item's groups."""
    picks: Picks = {}
    groups = catalog.groups_of(item)
    for name in names:
        group = _group_for_choice(groups, name)
        if group is None:
            offered = [c.name.lower() for g in groups for c in g.choices]
            raise Problem(
                "unknown_choice",
                f"The {item.name.lower()} doesn't come with {name}. "
                f"You can have {join_words(offered, 'or')}.",
                valid_choices=offered,
            )
        canonical = _canonical(group, name)
        picked = picks.setdefault(group.name, [])
        if canonical and canonical not in picked:
            picked.append(canonical)
    return picks


def build_line(
    catalog: Catalog, item_name: str, quantity: int = 1, options: dict[str, Any] | None = None
) -> CartLine:
    """A priced line for `item_name` with `options`, checked against the live menu: the item
    and its choices exist and are available, each group within its pick limits (a missing
    required pick takes the group's default), and the rules hold. Raises Problem."""
    item = _find_item(catalog, item_name)
    if quantity < 1:
        raise Problem("bad_quantity", "How many would you like?")
    picks = normalize_picks(catalog, item, options)
    chosen = []
    for group in catalog.groups_of(item):
        names = picks.get(group.name, [])
        if len(names) > group.max_picks:
            raise Problem(
                "too_many_picks",
                f"You can have at most {group.max_picks} {group.name.lower()}; you asked for "
                f"{len(names)}: {join_words([n.lower() for n in names])}. Which would you like?",
                group=group.name,
                max_picks=group.max_picks,
            )
        picked = [group.choice(n) for n in names]
        gone = [c.name for c in picked if not c.available]
        if gone:
            raise Problem(
                "sold_out",
                f"Sorry, {join_words([g.lower() for g in gone])} "
                f"{'is' if len(gone) == 1 else 'are'} sold out. "
                f"For {group.name.lower()} we have "
                f"{join_words([c.name.lower() for c in group.choices if c.available], 'or')}.",
                unavailable=gone,
                group=group.name,
            )
        if len(picked) < group.min_picks:
            picked += [d for d in group.defaults if d not in picked][
                : group.min_picks - len(picked)
            ]
        if len(picked) < group.min_picks:
            valid = [c.name.lower() for c in group.choices if c.available]
            raise Problem(
                "missing_choice",
                f"What {group.name.lower()} would you like: {join_words(valid, 'or')}?",
                group=group.name,
                min_picks=group.min_picks,
                valid_choices=valid,
            )
        if picked:
            picks[group.name] = [c.name for c in picked]
        chosen += picked
    _check_rules(catalog, item, chosen)
    ordered = {g.name: picks[g.name] for g in catalog.groups_of(item) if picks.get(g.name)}
    return CartLine(
        item_id=item.id,
        name=item.name,
        choice_ids=[c.id for c in chosen],
        options=ordered,
        quantity=quantity,
        unit_price=item.price + sum((c.price for c in chosen), Decimal("0")),
    )


def _check_rules(catalog: Catalog, item: ItemInfo, chosen: list) -> None:
    ids = {c.id for c in chosen}
    for rule in catalog.rules:
        if rule.choice_id not in ids:
            continue
        this, other = catalog.choices[rule.choice_id], catalog.choices.get(rule.other_id)
        if other is None:
            continue
        if rule.kind == "requires" and other.id not in ids:
            raise Problem(
                "rule",
                f"The {this.name.lower()} needs {other.name.lower()}. "
                f"Shall I add {other.name.lower()} as well?",
                choice=this.name,
                requires=other.name,
            )
        if rule.kind == "excludes" and other.id in ids:
            raise Problem(
                "rule",
                f"The {this.name.lower()} can't go with {other.name.lower()}. "
                "Which one would you like?",
                choice=this.name,
                excludes=other.name,
            )


def check_room(catalog: Catalog, cart: Cart, adding: int, replacing: int = 0) -> None:
    count = cart.count - replacing + adding
    if count > catalog.max_items:
        have = cart.count - replacing
        raise Problem(
            "too_many_items",
            f"An order can have at most {catalog.max_items} drinks, and you have {have} "
            "already. Anything else?",
            limit=catalog.max_items,
            in_cart=have,
        )


def line_request(line: CartLine) -> dict[str, Any]:
    """The tool arguments that would stage `line` again."""
    return {"item": line.name, "quantity": line.quantity, "options": dict(line.options)}

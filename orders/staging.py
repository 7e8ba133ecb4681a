"""Filling the cart: stage an item, change it, confirm it in, drop it; change or remove a cart
line; read the cart back. Each runs in the database thread against the live menu and returns
a ToolResult (orders.cart explains the shape); a refusal leaves the cart as it was."""

from __future__ import annotations

from typing import Any

from calls.tools import ToolContext, ToolResult
from orders.cart import (
    ASKED_CHECKOUT,
    ASKED_CONFIRM_ITEM,
    ASKED_MORE,
    ASKED_NOTHING,
    ASKED_SUGGESTION,
    Cart,
    CartLine,
    Problem,
    build_line,
    check_room,
    flat_to_picks,
    line_request,
    open_catalog,
    refuse,
)
from orders.catalog import Catalog, money


def _pending(cart: Cart) -> Problem:
    cart.asked = ASKED_CONFIRM_ITEM
    return Problem(
        "item_pending",
        f"First, shall I add {cart.staged.describe()}?",
        staged=cart.staged.as_data(),
    )


def _placed(cart: Cart) -> None:
    if cart.order_id is not None:
        raise Problem(
            "order_placed",
            f"Your order is already placed, number {' '.join(cart.order_number)}. "
            "Is there anything else?",
            order_number=cart.order_number,
        )


def _with_choice(catalog: Catalog, request: dict[str, Any], name: str, add: bool) -> dict:
    """`request` with the choice `name` added to (or taken from) its group's picks."""
    options = {g: list([v] if isinstance(v, str) else v) for g, v in request["options"].items()}
    group = next((g for g in catalog.groups.values() if g.choice(name)), None)
    if group is not None:
        picked = [p for p in options.get(group.name, []) if p.lower() != name.lower()]
        options[group.name] = [*picked, name] if add else picked
    return {**request, "options": _shaped(catalog, options)}


def _shaped(catalog: Catalog, options: dict[str, list[str]]) -> dict[str, Any]:
    """Options as the tool schema has them: a single-pick group's choice as a string."""
    shaped: dict[str, Any] = {}
    for group_name, picks in options.items():
        group = catalog.group(group_name)
        if not picks:
            continue
        shaped[group_name] = picks[-1] if group and group.max_picks == 1 else picks
    return shaped


def _suggest(cart: Cart, catalog: Catalog, problem: Problem, tool: str, request: dict) -> None:
    """After a broken "requires" rule, a "yes" adds what is required, a "no" drops the choice
    that needs it."""
    cart.suggestion = {}
    if problem.code == "rule" and "requires" in problem.data:
        cart.suggestion = {
            "yes": (tool, _with_choice(catalog, request, problem.data["requires"], True)),
            "no": (tool, _with_choice(catalog, request, problem.data["choice"], False)),
        }
        cart.asked = ASKED_SUGGESTION


def stage_item(
    ctx: ToolContext,
    cart: Cart,
    item: str,
    quantity: int = 1,
    options: dict[str, Any] | None = None,
) -> ToolResult:
    """Understand one item with its options and read it back; it is not in the cart yet."""
    request = {"item": item, "quantity": quantity, "options": options or {}}
    catalog = None
    try:
        catalog = open_catalog(ctx, cart)
        _placed(cart)
        if cart.staged is not None:
            raise _pending(cart)
        line = build_line(catalog, item, quantity, options)
        check_room(catalog, cart, line.quantity)
    except Problem as problem:
        if catalog is not None:
            _suggest(cart, catalog, problem, "stage_item", request)
        return problem.result()
    cart.staged, cart.asked, cart.suggestion = line, ASKED_CONFIRM_ITEM, {}
    return ToolResult(
        {"ok": True, "staged": line.as_data(), "cart": cart.as_data(), "restates": "staged"},
        say=f"{line.describe().capitalize()}, {money(line.total)}. Shall I add it?",
    )


def _changed(
    catalog: Catalog,
    base: CartLine,
    item: str | None,
    quantity: int | None,
    options: dict[str, Any] | None,
    add: list[str] | None,
    remove: list[str] | None,
) -> dict[str, Any]:
    """The request for `base` with the caller's changes applied."""
    request = line_request(base)
    if item:
        new = catalog.item(item)
        request["item"] = item
        if new is not None:  # keep the picks the new item also offers ("make it black milk tea")
            own = {g.name for g in catalog.groups_of(new)}
            request["options"] = {g: v for g, v in request["options"].items() if g in own}
    if quantity:
        request["quantity"] = quantity
    for group, value in (options or {}).items():
        request["options"][group] = value
    target = catalog.item(request["item"])
    if target is not None:
        for group, names in flat_to_picks(catalog, target, list(add or [])).items():
            info = catalog.group(group)
            kept = [] if info and info.max_picks == 1 else list(request["options"].get(group, []))
            request["options"][group] = kept + [n for n in names if n not in kept]
    for name in remove or []:
        request = _with_choice(catalog, request, name, False)
    return request


def change_staged_item(
    ctx: ToolContext,
    cart: Cart,
    item: str | None = None,
    quantity: int | None = None,
    options: dict[str, Any] | None = None,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> ToolResult:
    """Change the item waiting for confirmation (another item, size, toppings...)."""
    if cart.staged is None:
        return refuse(
            "nothing_staged", "There's no drink waiting to be added. What would you like?"
        )
    request, catalog = None, None
    try:
        catalog = open_catalog(ctx, cart)
        request = _changed(catalog, cart.staged, item, quantity, options, add, remove)
        line = build_line(catalog, request["item"], request["quantity"], request["options"])
        replaced = cart.lines[cart.staged.replaces - 1].quantity if cart.staged.replaces else 0
        check_room(catalog, cart, line.quantity, replaced)
    except Problem as problem:
        if catalog is not None and request is not None:
            _suggest(cart, catalog, problem, "stage_item", request)
            if cart.suggestion:  # a "yes" re-stages the whole drink: drop the old one first
                cart.suggestion = {
                    k: ("change_staged_item", {**v[1]}) for k, v in cart.suggestion.items()
                }
        return problem.result()
    line.replaces = cart.staged.replaces
    cart.staged, cart.asked, cart.suggestion = line, ASKED_CONFIRM_ITEM, {}
    return ToolResult(
        {"ok": True, "staged": line.as_data(), "cart": cart.as_data(), "restates": "staged"},
        say=f"Now it's {line.describe()}, {money(line.total)}. Shall I add it?",
    )


def confirm_item(ctx: ToolContext, cart: Cart, done: bool = False) -> ToolResult:
    """The caller said yes: the staged item goes into the cart (checked against the menu once
    more: it may have sold out since). With `done`, the caller also has nothing more to add."""
    from orders.checkout import propose_phone

    staged = cart.staged
    try:
        catalog = open_catalog(ctx, cart)
        _placed(cart)
        if staged is None:
            if done and cart.lines:
                return propose_phone(ctx, cart)
            raise Problem(
                "nothing_staged", "There's no drink waiting to be added. What would you like?"
            )
        request = line_request(staged)
        try:
            line = build_line(catalog, request["item"], request["quantity"], request["options"])
        except Problem as problem:
            if problem.code != "sold_out":
                raise
            cart.staged, cart.asked = None, ASKED_NOTHING  # it cannot be had: not kept staged
            raise Problem(
                "sold_out",
                problem.say.replace("Sorry,", "Sorry, I couldn't add it:", 1),
                **problem.data,
            ) from problem
        replaced = cart.lines[staged.replaces - 1].quantity if staged.replaces else 0
        check_room(catalog, cart, line.quantity, replaced)
    except Problem as problem:
        return problem.result()
    if staged.replaces:
        cart.lines[staged.replaces - 1] = line
        said = f"Done: line {staged.replaces} is now {line.describe()}."
    else:
        cart.lines.append(line)
        said = f"Added {line.describe()}."
    cart.staged, cart.suggestion = None, {}
    if done:
        proposal = propose_phone(ctx, cart)
        proposal.say = f"{said} {proposal.say}"
        return proposal
    cart.asked = ASKED_MORE
    return ToolResult(
        {"ok": True, "added": line.as_data(), "cart": cart.as_data()},
        say=f"{said} Anything else?",
    )


def discard_staged_item(ctx: ToolContext, cart: Cart) -> ToolResult:
    """The caller does not want the staged item after all."""
    staged = cart.staged
    if staged is None:
        return refuse("nothing_staged", "There's nothing waiting to be added. Anything else?")
    cart.staged, cart.suggestion = None, {}
    if staged.replaces:
        cart.asked = ASKED_MORE
        say = f"OK, line {staged.replaces} stays as it was. Anything else?"
    else:
        cart.asked = ASKED_NOTHING
        say = f"OK, I've dropped the {staged.name.lower()}. What would you like instead?"
    return ToolResult({"ok": True, "dropped": staged.as_data(), "cart": cart.as_data()}, say=say)


def _line_index(cart: Cart, line: int) -> int:
    if not 1 <= line <= len(cart.lines):
        count = len(cart.lines)
        have = f"only {count} line{'s' if count != 1 else ''}" if count else "nothing"
        raise Problem("no_such_line", f"Your cart has {have}. Which one do you mean?", lines=count)
    return line - 1


def remove_cart_line(ctx: ToolContext, cart: Cart, line: int) -> ToolResult:
    """Take line `line` (1-based) out of the cart."""
    try:
        _placed(cart)
        index = _line_index(cart, line)
    except Problem as problem:
        return problem.result()
    removed = cart.lines.pop(index)
    cart.asked = ASKED_MORE
    left = f"That leaves {cart.summary()}." if cart.lines else "Your cart is empty now."
    return ToolResult(
        {"ok": True, "removed": removed.as_data(), "cart": cart.as_data()},
        say=f"I've taken off {removed.describe()}. {left} Anything else?",
    )


def change_cart_line(
    ctx: ToolContext,
    cart: Cart,
    line: int,
    item: str | None = None,
    quantity: int | None = None,
    options: dict[str, Any] | None = None,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> ToolResult:
    """Stage a changed copy of cart line `line`; it replaces the line once confirmed."""
    try:
        catalog = open_catalog(ctx, cart)
        _placed(cart)
        if cart.staged is not None:
            raise _pending(cart)
        index = _line_index(cart, line)
        request = _changed(catalog, cart.lines[index], item, quantity, options, add, remove)
        changed = build_line(catalog, request["item"], request["quantity"], request["options"])
        check_room(catalog, cart, changed.quantity, cart.lines[index].quantity)
    except Problem as problem:
        return problem.result()
    changed.replaces = line
    cart.staged, cart.asked = changed, ASKED_CONFIRM_ITEM
    return ToolResult(
        {"ok": True, "staged": changed.as_data(), "replaces_line": line, "cart": cart.as_data()},
        say=f"Line {line} would become {changed.describe()}, {money(changed.total)}. "
        "Shall I make that change?",
    )


def read_cart(ctx: ToolContext, cart: Cart) -> ToolResult:
    """What is in the cart, with the total."""
    question = "What would you like to change?" if cart.asked == ASKED_CHECKOUT else None
    parts = []
    if cart.lines:
        listed = "; ".join(f"{n}: {line.describe()}" for n, line in enumerate(cart.lines, 1))
        if len(cart.lines) == 1:
            listed = cart.lines[0].describe()
        parts.append(f"You have {listed}. That's {cart.summary()}.")
    else:
        parts.append("Your cart is empty.")
    if cart.staged is not None:
        parts.append(f"Still to confirm: {cart.staged.describe()}.")
    parts.append(question or ("Anything else?" if cart.lines else "What would you like?"))
    cart.asked = ASKED_MORE if cart.lines else ASKED_NOTHING
    return ToolResult({"ok": True, "cart": cart.as_data()}, say=" ".join(parts))

"""The ordering tools an agent linked to a menu (Menu.agents) can use.

Each tool's schema is built per call from the tenant's menu (item and choice names as enums, per
option group), so a language model cannot order what the shop does not sell; the scripted brain
reaches the same tools through orders.phrases. The handlers are thin: the work is in
orders.staging, orders.checkout and orders.menu_answers, run in the database thread on the
call's cart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from calls.tools import ToolContext, ToolResult, tool
from orders import checkout as checkout_steps
from orders import menu_answers, staging
from orders.cart import Cart
from orders.catalog import Catalog, load_catalog, menu_for_agent
from orders.phrases import matcher_for

# The ordering tools, in the order an ordering agent lists them (before "end_call").
ORDERING_TOOLS = [
    "stage_item",
    "change_staged_item",
    "confirm_item",
    "discard_staged_item",
    "remove_cart_line",
    "change_cart_line",
    "read_cart",
    "menu_question",
    "confirm_phone",
    "checkout",
    "order_status",
]

ANY_OPTIONS = {
    "type": "object",
    "description": "Option group name -> the chosen choice (or list of choices).",
    "additionalProperties": {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
    },
}
CHANGES = {
    "quantity": {"type": "integer", "minimum": 1},
    "add": {
        "type": "array",
        "items": {"type": "string"},
        "description": "Choices to add (toppings, or a new size).",
    },
    "remove": {"type": "array", "items": {"type": "string"}, "description": "Choices to take off."},
}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _menu_schemas(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """The property schemas built from one menu."""
    items = [i.name for i in catalog.items]
    options = {}
    for group in catalog.groups.values():
        names = [c.name for c in group.choices]
        limits = f"pick {group.min_picks} to {group.max_picks}"
        if group.max_picks == 1:
            options[group.name] = {"type": "string", "enum": names, "description": limits}
        else:
            options[group.name] = {
                "type": "array",
                "items": {"type": "string", "enum": names},
                "description": limits,
            }
    choices = catalog.choice_names()
    return {
        "item": {"type": "string", "enum": items, "description": "A menu item."},
        "options": {
            "type": "object",
            "properties": options,
            "additionalProperties": False,
            "description": "Choices per option group; a group left out takes its default.",
        },
        "choices": {"type": "array", "items": {"type": "string", "enum": choices}},
        "groups": {"type": "string", "enum": [g.name for g in catalog.groups.values()]},
        "choice": {"type": "string", "enum": choices},
    }


def _catalog_for(ctx: ToolContext) -> Catalog | None:
    menu = menu_for_agent(ctx.agent_id, ctx.tenant_id)
    return load_catalog(menu) if menu is not None else None


def _menu_words(ctx: ToolContext) -> list[str]:
    """The menu's names, for the recogniser: items first, then their choices."""
    catalog = _catalog_for(ctx)
    if catalog is None:
        return []
    return [i.name for i in catalog.available_items()] + catalog.choice_names()


def _per_call(build: Callable[[dict[str, dict[str, Any]]], dict[str, Any]], static: dict):
    """A schema_for: `build(menu property schemas)`, or `static` for an agent with no menu."""

    def schema_for(ctx: ToolContext) -> dict[str, Any]:
        catalog = _catalog_for(ctx)
        return build(_menu_schemas(catalog)) if catalog is not None else static

    return schema_for


def _runs(step: Callable[..., ToolResult]):
    """A handler running `step(ctx, cart, **arguments)` in the database thread."""

    async def handler(ctx: ToolContext, **arguments: Any) -> ToolResult:
        cart = ctx.state(Cart)
        cart.heard.clear()  # the cart changes now: the brain reads the next utterance afresh
        cart.expect.clear()
        return await database_sync_to_async(step)(ctx, cart, **arguments)

    handler.__name__ = step.__name__
    return handler


def _register(
    name: str,
    description: str,
    step: Callable[..., ToolResult],
    static: dict[str, Any],
    build: Callable[[dict[str, dict[str, Any]]], dict[str, Any]] | None = None,
) -> None:
    tool(
        name,
        description,
        static,
        matcher=matcher_for(name),
        schema_for=_per_call(build, static) if build else None,
        hints_for=_menu_words if name == "stage_item" else None,
    )(_runs(step))


_register(
    "stage_item",
    "Understand one menu item the caller wants, with its options, and read it back with its "
    "price. It is NOT in the cart until the caller says yes (then call confirm_item).",
    staging.stage_item,
    _obj(
        {"item": {"type": "string"}, "quantity": CHANGES["quantity"], "options": ANY_OPTIONS},
        ["item"],
    ),
    lambda m: _obj(
        {"item": m["item"], "quantity": CHANGES["quantity"], "options": m["options"]}, ["item"]
    ),
)
_register(
    "change_staged_item",
    "Change the item waiting for confirmation: another item, quantity, options per group "
    "(replacing that group's picks), choices to add or remove.",
    staging.change_staged_item,
    _obj({"item": {"type": "string"}, "options": ANY_OPTIONS, **CHANGES}),
    lambda m: _obj(
        {
            "item": m["item"],
            "options": m["options"],
            "quantity": CHANGES["quantity"],
            "add": m["choices"],
            "remove": m["choices"],
        }
    ),
)
_register(
    "confirm_item",
    "The caller said yes to the staged item: put it in the cart. Set done when the caller also "
    "said that is all they want.",
    staging.confirm_item,
    _obj({"done": {"type": "boolean"}}),
)
_register(
    "discard_staged_item",
    "The caller does not want the staged item: drop it.",
    staging.discard_staged_item,
    _obj({}),
)
_register(
    "remove_cart_line",
    "Take a line out of the cart (line numbers start at 1, as read_cart lists them).",
    staging.remove_cart_line,
    _obj({"line": {"type": "integer", "minimum": 1}}, ["line"]),
)
_register(
    "change_cart_line",
    "Change a line already in the cart; the changed line is read back and replaces the old one "
    "once the caller confirms it (confirm_item).",
    staging.change_cart_line,
    _obj(
        {
            "line": {"type": "integer", "minimum": 1},
            "item": {"type": "string"},
            "options": ANY_OPTIONS,
            **CHANGES,
        },
        ["line"],
    ),
    lambda m: _obj(
        {
            "line": {"type": "integer", "minimum": 1},
            "item": m["item"],
            "options": m["options"],
            "quantity": CHANGES["quantity"],
            "add": m["choices"],
            "remove": m["choices"],
        },
        ["line"],
    ),
)
_register("read_cart", "Read back the cart with its total.", staging.read_cart, _obj({}))
_MENU_ASK = {"type": "string", "enum": ["list", "price", "available", "hours"]}
_register(
    "menu_question",
    "Answer a menu question: what there is (list), how much (price), whether something is "
    "available, or the opening hours; about an item, an option group, a choice, or `other` "
    "(something the caller named that is not on the menu).",
    menu_answers.menu_question,
    _obj(
        {
            "ask": _MENU_ASK,
            "item": {"type": "string"},
            "group": {"type": "string"},
            "choice": {"type": "string"},
            "other": {"type": "string"},
        }
    ),
    lambda m: _obj(
        {
            "ask": _MENU_ASK,
            "item": m["item"],
            "group": m["groups"],
            "choice": m["choice"],
            "other": {"type": "string"},
        }
    ),
)
_register(
    "confirm_phone",
    "Settle the number to text about the order. With no arguments: offer the caller's own "
    "number. `number`: a number the caller gave (read it back). `confirmed`: the caller's yes "
    "or no to the number read back.",
    checkout_steps.confirm_phone,
    _obj({"number": {"type": "string"}, "confirmed": {"type": "boolean"}}),
)
_register(
    "checkout",
    "Place the order once the caller is done and has confirmed the phone number; says the "
    "order number and the total.",
    checkout_steps.checkout,
    _obj({}),
)
_register(
    "order_status",
    "Where an order is: by its number, or by phone number (the caller's by default).",
    checkout_steps.order_status,
    _obj({"number": {"type": "string"}, "phone": {"type": "string"}}),
)

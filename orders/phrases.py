"""What a caller's sentence asks of the ordering tools, for the offline scripted brain.

`understand(sentence, ctx)` returns the one tool call a sentence means, or None, from the words
(as whisper writes them: punctuation, digits or number words), the menu's names (fuzzy, through
orders.catalog) and the cart: what is staged and what the agent last asked, so "yes" confirms
the staged drink, or the phone number, or the checkout. Each ordering tool's matcher asks it and
answers only when it chose that tool, so the agent's tool order does not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from calls.tools import ToolContext
from orders.cart import (
    ASKED_CHECKOUT,
    ASKED_CONFIRM_ITEM,
    ASKED_MORE,
    ASKED_NOTHING,
    ASKED_PHONE,
    ASKED_PHONE_NUMBER,
    Cart,
)
from orders.catalog import Catalog, Mention, choice_names, find_mentions, item_names, words_of

Intent = tuple[str, dict[str, Any]]

NUMBER_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
QUANTITIES = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}

YES = {"yes", "yeah", "yep", "yup", "yea", "ya", "correct", "sure", "ok", "okay", "right"}
YES = YES | {"perfect", "absolutely", "definitely", "great", "please", "alright"}
NO = {"no", "nope", "nah"}
FILLER = {"please", "thanks", "thank", "you", "that's", "is", "it", "and", "oh", "um", "uh"}
FILLER = FILLER | {"so", "well", "sounds", "good", "go", "ahead", "add", "that", "the", "one"}
DONE = re.compile(
    r"\b(that'?s (all|it|everything)|that is (all|it)|that'?ll be (all|it)|nothing (else|more)"
    r"|i'?m (done|good)|all done|no more|i think that'?s (all|it))\b"
)
CHANGE = re.compile(
    r"\b(make (it|that|this|the)|change|instead|actually|switch|swap|rather|i meant|"
    r"can it be|could it be|make mine)\b"
)
REMOVE = re.compile(
    r"\b(remove|take off|take out|take away|cancel|delete|drop|scratch|get rid of|"
    r"don'?t want)\b"
)
NEGATION = {"no", "without", "hold", "minus", "skip"}
MENU = re.compile(
    r"\b(what do you (have|sell|got|offer)|what'?s on the menu|the menu|what (drinks|kinds?|"
    r"flavou?rs|toppings|sizes|options|add ?ons|sweetness|ice)|what can i (get|order|have)|"
    r"what (is|are) (your|the) (toppings|sizes|options|drinks))\b"
)
PRICE = re.compile(r"\b(how much|price|prices|cost|costs)\b")
AVAILABLE = re.compile(
    r"\b(do you (have|sell|carry|do|got)|is (the |your )?.{1,40}(available|sold out|in stock)|"
    r"are you out of|any .{1,30} left|is there any)\b"
)
HOURS = re.compile(r"\b(hours|when do you (open|close)|are you open|what time do you)\b")
STATUS = re.compile(
    r"\b(status|where'?s my order|where is my order|is my order ready|my order ready|"
    r"check on (my )?order|order (number )?\d)"
)
PHONE_CUE = re.compile(r"\b(number|text|call|reach|phone|cell)\b")


def digits_in(words: list[str]) -> str:
    """The digits said, as digits or number words ("four one five", "415-555")."""
    out = []
    for i, word in enumerate(words):
        if word.isdigit():
            out.append(word)
        elif (word in NUMBER_WORDS and word not in ("o", "oh")) or (
            word in ("o", "oh") and (i > 0 and _is_digit_word(words[i - 1]))
        ):
            out.append(NUMBER_WORDS[word])
        elif word == "double" and i + 1 < len(words) and words[i + 1] in NUMBER_WORDS:
            out.append(NUMBER_WORDS[words[i + 1]])
    return "".join(out)


def _is_digit_word(word: str) -> bool:
    return word.isdigit() or word in NUMBER_WORDS


def answer_kind(words: list[str], text: str) -> str | None:
    """ "yes", "no" or "done" when the sentence is only that ("Yeah.", "No, that's all.")."""
    if DONE.search(text):
        return "done"
    content = [w for w in words if w not in FILLER and w not in YES and w not in NO]
    if content:
        return None
    if any(w in NO for w in words):
        return "no"
    if any(w in YES for w in words):
        return "yes"
    return None


def _group_of(catalog: Catalog, choice: str) -> str | None:
    group = next((g for g in catalog.groups.values() if g.choice(choice)), None)
    return group.name if group else None


def _options(catalog: Catalog, choices: list[Mention]) -> tuple[dict[str, Any], list[str]]:
    """Choice mentions as schema options ({group: name or [names]}) and flat multi-picks."""
    options: dict[str, Any] = {}
    multi: list[str] = []
    for mention in choices:
        group_name = _group_of(catalog, mention.key)
        group = catalog.group(group_name) if group_name else None
        if group is None:
            continue
        if group.max_picks == 1:
            options[group.name] = mention.key  # said twice ("half sweet, no, less"): the last
        else:
            options.setdefault(group.name, []).append(mention.key)
            multi.append(mention.key)
    return options, multi


def _quantity(words: list[str], item: Mention) -> int:
    for word in reversed(words[max(0, item.start - 3) : item.start]):
        if word in QUANTITIES:
            return QUANTITIES[word]
        if word.isdigit() and 0 < int(word) <= 99:
            return int(word)
    return 1


def _line_meant(words: list[str], items: list[Mention], view: View) -> int | None:
    for word in words:
        if word in ORDINALS and ORDINALS[word] <= len(view.lines):
            return ORDINALS[word]
        if word == "last" and view.lines:
            return len(view.lines)
    if items:
        for n, name in enumerate(view.lines, 1):
            if name == items[0].key:
                return n
    return None


def _menu_question(words: list[str], text: str, catalog: Catalog, items, choices) -> Intent:
    groups = find_mentions(
        words,
        {
            g.name: [g.name, g.name.rstrip("s"), g.name + "s", g.name.replace("-", " ")]
            for g in catalog.groups.values()
        },
    )
    args: dict[str, Any] = {"ask": "list"}
    if HOURS.search(text):
        return "menu_question", {"ask": "hours"}
    if PRICE.search(text):
        args["ask"] = "price"
    elif AVAILABLE.search(text) and (items or choices or not MENU.search(text)):
        args["ask"] = "available"
    if items:
        args["item"] = items[0].key
    elif choices:
        args["choice"] = choices[0].key
    elif groups:
        args["group"] = groups[0].key
    elif args["ask"] == "available":
        found = re.search(r"\b(?:have|sell|carry|got|of|any)\s+(?:any\s+)?(.+?)\s*$", text)
        if found and found.group(1).strip(" ?.!"):
            args["other"] = re.sub(r"^(a|an|some|the)\s+", "", found.group(1).strip(" ?.!"))
    return "menu_question", args


@dataclass
class View:
    """The cart as the caller's next sentence finds it: what the tools will have made of the
    earlier sentences of the same utterance ("A large taro milk tea with boba. Half sweet."
    stages the drink, then changes it), before they have run."""

    staged: str | None
    asked: str
    lines: list[str]
    phone: bool
    placed: bool
    suggestion: dict


def _view(cart: Cart) -> View:
    expect = cart.expect
    return View(
        staged=expect.get("staged", cart.staged.name if cart.staged else None),
        asked=expect.get("asked", cart.asked),
        lines=[line.name for line in cart.lines] + expect.get("added", []),
        phone=expect.get("phone", bool(cart.phone)),
        placed=cart.order_id is not None,
        suggestion={} if expect else cart.suggestion,
    )


def _expect(cart: Cart, view: View, intent: Intent | None) -> None:
    """Record what `intent` will do to the cart, for the next sentence of the utterance."""
    if intent is None:
        return
    name, args = intent
    expect = cart.expect
    if name in ("stage_item", "change_staged_item", "change_cart_line"):
        expect["staged"] = args.get("item") or view.staged or "item"
        expect["asked"] = ASKED_CONFIRM_ITEM
    elif name == "confirm_item":
        if view.staged:
            expect["added"] = [*expect.get("added", []), view.staged]
        expect["staged"] = None
        expect["asked"] = ASKED_PHONE if args.get("done") else ASKED_MORE
    elif name == "discard_staged_item":
        expect["staged"], expect["asked"] = None, ASKED_NOTHING
    elif name == "confirm_phone":
        confirmed = args.get("confirmed")
        expect["asked"] = ASKED_CHECKOUT if confirmed else ASKED_PHONE
        expect["phone"] = bool(confirmed)
    elif name in ("read_cart", "remove_cart_line", "menu_question"):
        expect["asked"] = ASKED_MORE if view.lines else ASKED_NOTHING


def understand(text: str, ctx: ToolContext) -> Intent | None:
    """The ordering tool call `text` (one sentence) asks for, or None. Each sentence is
    understood once (every tool's matcher asks); the tools forget it when one of them runs."""
    cart = ctx.state(Cart)
    if cart.catalog is None:
        return None
    if text in cart.heard:
        return cart.heard[text]
    view = _view(cart)
    intent = _understand(text, cart.catalog, cart, view)
    _expect(cart, view, intent)
    cart.heard[text] = intent
    return intent


def _understand(text: str, catalog: Catalog, cart: Cart, view: View) -> Intent | None:
    lowered = text.lower().replace("\u2019", "'")
    words = words_of(lowered)
    if not words:
        return None
    kind = answer_kind(words, lowered)
    if view.suggestion and kind in ("yes", "no"):
        return view.suggestion[kind]
    if STATUS.search(lowered):
        number = digits_in(words)
        return "order_status", ({"number": number} if number else {})
    digits = digits_in(words)
    asked_phone = view.asked in (ASKED_PHONE, ASKED_PHONE_NUMBER)
    if (asked_phone and len(digits) >= 7) or (len(digits) >= 10 and PHONE_CUE.search(lowered)):
        return "confirm_phone", {"number": digits}
    items = find_mentions(words, item_names(catalog))
    taken = {i for m in items for i in range(m.start, m.end)}
    choices = [
        m
        for m in find_mentions(words, choice_names(catalog))
        if not taken & set(range(m.start, m.end))
    ]
    if MENU.search(lowered) or PRICE.search(lowered) or AVAILABLE.search(lowered):
        return _menu_question(words, lowered, catalog, items, choices)
    if HOURS.search(lowered):
        return "menu_question", {"ask": "hours"}
    negated = [m for m in choices if m.start > 0 and words[m.start - 1] in NEGATION]
    kept = [m for m in choices if m not in negated]
    if REMOVE.search(lowered):
        return _removal(words, items, kept + negated, view)
    if items or choices:
        return _order_words(words, lowered, catalog, view, items, kept, negated)
    return _answer(kind, view)


def _removal(words: list[str], items, choices, view: View) -> Intent | None:
    staged = view.staged
    line = _line_meant(words, items, view)
    if staged is not None and not choices and (not items or items[0].key == staged):
        if line is None or (items and items[0].key == staged):
            return "discard_staged_item", {}
    if line is not None and not choices:
        return "remove_cart_line", {"line": line}
    if choices and staged is not None:
        return "change_staged_item", {"remove": [m.key for m in choices]}
    if choices and view.lines:
        return "change_cart_line", {
            "line": line or len(view.lines),
            "remove": [m.key for m in choices],
        }
    return None


def _order_words(words, text, catalog: Catalog, view: View, items, kept, negated):
    options, multi = _options(catalog, kept)
    changing = bool(CHANGE.search(text))
    if items and (view.staged is None or not changing) and not (changing and view.lines):
        args: dict[str, Any] = {"item": items[0].key, "quantity": _quantity(words, items[0])}
        if options:
            args["options"] = options
        return "stage_item", args
    change: dict[str, Any] = {}
    if items:
        if items[0].key != view.staged:
            change["item"] = items[0].key
    single = {g: v for g, v in options.items() if isinstance(v, str)}
    if single:
        change["options"] = single
    if multi:
        change["add"] = multi
    if negated:
        change["remove"] = [m.key for m in negated]
    if view.staged is not None:
        return "change_staged_item", change
    if view.lines:
        line = _line_meant(words, items if "item" not in change else [], view)
        return "change_cart_line", {"line": line or len(view.lines), **change}
    return None


def _answer(kind: str | None, view: View) -> Intent | None:
    """A bare yes, no or "that's all", read against what the agent last asked."""
    if kind is None or view.placed:
        return None  # after checkout "that's all" is a goodbye (end_call)
    if view.staged is not None:
        if kind == "yes":
            return "confirm_item", {}
        if kind == "done":
            return "confirm_item", {"done": True}
        return "discard_staged_item", {}
    if view.asked == ASKED_PHONE:
        if kind == "no":
            return "confirm_phone", {"confirmed": False}
        return "confirm_phone", {"confirmed": True}
    if view.asked == ASKED_CHECKOUT:
        return ("checkout", {}) if kind in ("yes", "done") else ("read_cart", {})
    if view.lines and (kind in ("no", "done")) and view.asked in (ASKED_MORE, ASKED_NOTHING):
        return ("checkout", {}) if view.phone else ("confirm_phone", {})
    if kind == "yes" and view.asked == ASKED_MORE:
        return "menu_question", {"ask": "list"}
    return None


def matcher_for(tool_name: str):
    """The scripted brain's matcher for one ordering tool: its arguments when `understand`
    chose it, else None."""

    def match(text: str, ctx: ToolContext) -> dict[str, Any] | None:
        intent = understand(text, ctx)
        if intent is not None and intent[0] == tool_name:
            return intent[1]
        return None

    match.__name__ = f"match_{tool_name}"
    return match

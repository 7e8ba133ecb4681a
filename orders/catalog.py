"""A menu as one call's tools see it: a plain snapshot read from the database, and the matching
of what a caller says to its items and choices.

Tools load a fresh snapshot each time they run, so an item marked sold out a moment ago is
refused on the next question. The scripted brain's matchers only need names, so they work from
the snapshot loaded when the call started (orders.call_hooks).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from rapidfuzz import fuzz

from orders.models import Menu, OpeningHours


@dataclass(frozen=True)
class ChoiceInfo:
    id: int
    group_id: int
    name: str
    price: Decimal
    available: bool
    is_default: bool
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupInfo:
    id: int
    name: str
    min_picks: int
    max_picks: int
    choices: tuple[ChoiceInfo, ...]

    def choice(self, name: str) -> ChoiceInfo | None:
        return next((c for c in self.choices if c.name.lower() == name.lower()), None)

    @property
    def defaults(self) -> list[ChoiceInfo]:
        return [c for c in self.choices if c.is_default and c.available]


@dataclass(frozen=True)
class ItemInfo:
    id: int
    name: str
    price: Decimal
    available: bool
    group_ids: tuple[int, ...]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleInfo:
    choice_id: int
    kind: str  # "requires" or "excludes"
    other_id: int


@dataclass
class Catalog:
    menu_id: int
    tenant_id: int
    name: str
    currency: str
    max_items: int
    items: list[ItemInfo]
    groups: dict[int, GroupInfo]
    rules: list[RuleInfo]
    open_now: bool = True
    hours: str = ""
    opens_next: str = ""
    choices: dict[int, ChoiceInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.choices = {c.id: c for g in self.groups.values() for c in g.choices}

    def item(self, name: str) -> ItemInfo | None:
        return next((i for i in self.items if i.name.lower() == name.lower()), None)

    def item_by_id(self, item_id: int) -> ItemInfo | None:
        return next((i for i in self.items if i.id == item_id), None)

    def groups_of(self, item: ItemInfo) -> list[GroupInfo]:
        return [self.groups[g] for g in item.group_ids if g in self.groups]

    def group(self, name: str) -> GroupInfo | None:
        return next((g for g in self.groups.values() if g.name.lower() == name.lower()), None)

    def choice_names(self) -> list[str]:
        return list(dict.fromkeys(c.name for g in self.groups.values() for c in g.choices))

    def available_items(self) -> list[ItemInfo]:
        return [i for i in self.items if i.available]


def menu_for_agent(agent_id: int | None, tenant_id: int) -> Menu | None:
    """The active menu an ordering agent takes orders from (None: not an ordering agent)."""
    if agent_id is None:
        return None
    return (
        Menu.objects.select_related("tenant")
        .filter(agents=agent_id, tenant_id=tenant_id, active=True)
        .order_by("pk")
        .first()
    )


def load_catalog(menu: Menu, at: datetime.datetime | None = None) -> Catalog:
    """Read `menu` (availability, prices, rules, opening hours) as it is now."""
    groups = {}
    for group in menu.option_groups.prefetch_related("choices"):
        groups[group.pk] = GroupInfo(
            id=group.pk,
            name=group.name,
            min_picks=group.min_picks,
            max_picks=group.max_picks,
            choices=tuple(
                ChoiceInfo(
                    id=c.pk,
                    group_id=group.pk,
                    name=c.name,
                    price=c.price,
                    available=c.available,
                    is_default=c.is_default,
                    aliases=tuple(c.alias_list),
                )
                for c in group.choices.all()
            ),
        )
    items = [
        ItemInfo(
            id=item.pk,
            name=item.name,
            price=item.price,
            available=item.available,
            group_ids=tuple(g.pk for g in item.option_groups.all()),
            aliases=tuple(item.alias_list),
        )
        for item in menu.items.prefetch_related("option_groups")
    ]
    rules = [RuleInfo(r.choice_id, r.kind, r.other_id) for r in menu.rules.all()]
    now = at or timezone.now()
    return Catalog(
        menu_id=menu.pk,
        tenant_id=menu.tenant_id,
        name=menu.name,
        currency=menu.currency,
        max_items=menu.max_items_per_order,
        items=items,
        groups=groups,
        rules=rules,
        open_now=menu.is_open(now),
        hours=menu.hours_text(),
        opens_next=next_opening(menu, now),
    )


def next_opening(menu: Menu, now: datetime.datetime) -> str:
    """When the menu next opens, as said aloud ("Tuesday at 7:00"); empty when it has no
    hours (always open)."""
    hours = list(menu.hours.all())
    if not hours:
        return ""
    local = now.astimezone(menu.tenant.zone)
    for days_ahead in range(8):
        day = local.date() + datetime.timedelta(days=days_ahead)
        for h in sorted((h for h in hours if h.weekday == day.weekday()), key=lambda h: h.opens):
            opens = datetime.datetime.combine(day, h.opens, tzinfo=local.tzinfo)
            if opens > local:
                when = "today" if days_ahead == 0 else OpeningHours.Weekday(h.weekday).label
                if days_ahead == 1:
                    when = "tomorrow"
                return f"{when} at {h.opens:%-H:%M}"
    return ""


# ---------------------------------------------------------------------------- money and words


def money(amount: Decimal) -> str:
    """ "$7.25", as the voice reads it."""
    return f"${amount:.2f}"


def join_words(names: list[str], last: str = "and") -> str:
    names = [n for n in names if n]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {last} " + names[-1]


def spoken_digits(text: str) -> str:
    """ "1 0 4" for "104": the voice reads each digit."""
    return " ".join(ch for ch in text if ch.isdigit())


# ---------------------------------------------------------------------------- matching

WORD = re.compile(r"[a-z0-9%]+(?:'[a-z]+)?")


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("-", " "))


@dataclass(frozen=True)
class Mention:
    """A stretch of the caller's words (`start`..`end`, word indexes) that names `key`."""

    key: str
    start: int
    end: int
    score: float


def _cutoff(phrase: str) -> float:
    # Short names need near-exact words ("ice", "boba"); longer ones tolerate whisper's slips
    # ("terro milk tea").
    if len(phrase) <= 4:
        return 88
    if len(phrase) <= 8:
        return 80
    return 78


def find_mentions(text: str | list[str], names: dict[str, list[str]]) -> list[Mention]:
    """Where the caller named each key of `names` (key -> the phrases that name it: the name
    and its aliases), fuzzily (rapidfuzz), without overlaps: the best-scoring, then longest,
    phrase wins a stretch of words."""
    said = words_of(text) if isinstance(text, str) else text
    found: list[tuple[float, int, Mention]] = []
    for key, phrases in names.items():
        for phrase in phrases:
            target = " ".join(words_of(phrase))
            n = len(target.split())
            if not n:
                continue
            for size in {n, n + 1, max(1, n - 1)}:
                for start in range(0, len(said) - size + 1):
                    window = " ".join(said[start : start + size])
                    # whisper joins or splits words ("terromilk tea"): compare without spaces too
                    score = max(
                        fuzz.ratio(window, target),
                        fuzz.ratio(window.replace(" ", ""), target.replace(" ", "")),
                    )
                    if score >= _cutoff(target):
                        found.append((score, n, Mention(key, start, start + size, score)))
    found.sort(key=lambda f: (-f[0], -f[1], f[2].start))
    taken: set[int] = set()
    chosen: list[Mention] = []
    for _, _, mention in found:
        span = set(range(mention.start, mention.end))
        if span & taken or any(m.key == mention.key for m in chosen):
            continue
        taken |= span
        chosen.append(mention)
    return sorted(chosen, key=lambda m: m.start)


def item_names(catalog: Catalog) -> dict[str, list[str]]:
    return {i.name: [i.name, *i.aliases] for i in catalog.items}


def choice_names(catalog: Catalog) -> dict[str, list[str]]:
    """Choice name -> phrases; a name shared by two groups is one key (resolved per item)."""
    names: dict[str, list[str]] = {}
    for group in catalog.groups.values():
        for c in group.choices:
            names.setdefault(c.name, [c.name]).extend(c.aliases)
    return names


def best_name(text: str, names: dict[str, list[str]]) -> str | None:
    """The key whose phrase best matches all of `text` (a name an LLM or caller gave)."""
    best, best_score = None, 0.0
    for key, phrases in names.items():
        for phrase in phrases:
            score = fuzz.WRatio(text.lower(), phrase.lower())
            if score > best_score:
                best, best_score = key, score
    return best if best_score >= 85 else None

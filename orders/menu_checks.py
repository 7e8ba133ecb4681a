"""Checks on a menu's parts that span rows, asked by the admin's forms and the API alike.

The models check what one row can check on its own (min <= max picks, a rule between choices of
its menu); these look at neighbours: an agent already serving another menu, an item's category
or option groups on another menu, more defaults in a group than it allows picks. Each raises
Django's ValidationError keyed by field, which the admin shows on the field and the API turns
into a 400.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

from calls.models import Agent
from orders.models import Category, Choice, Menu, OptionGroup


def check_menu_agents(menu: Menu, agents: Iterable[Agent]) -> None:
    """An agent takes orders from one menu only (its tools would not know which to use), and
    only from a menu of its own tenant."""
    agents = list(agents)
    foreign = [a.name for a in agents if menu.tenant_id and a.tenant_id != menu.tenant_id]
    if foreign:
        raise ValidationError({"agents": f"Not an agent of this menu's tenant: {_names(foreign)}."})
    taken = (
        Menu.agents.through.objects.filter(agent__in=agents)
        .exclude(menu_id=menu.pk)
        .select_related("agent", "menu")
    )
    messages = [
        f"{row.agent.name} already takes orders for the menu “{row.menu.name}”." for row in taken
    ]
    if messages:
        raise ValidationError({"agents": [*messages, "An agent can serve one menu only."]})


def check_item_parts(
    menu: Menu | None, category: Category | None, option_groups: Iterable[OptionGroup]
) -> None:
    """An item's category and option groups come from the item's own menu."""
    if menu is None:
        return
    errors: dict[str, str] = {}
    if category is not None and category.menu_id != menu.pk:
        errors["category"] = f"The category “{category.name}” is not on the menu “{menu.name}”."
    stray = [g.name for g in option_groups if g.menu_id != menu.pk]
    if stray:
        errors["option_groups"] = f"Not option groups of the menu “{menu.name}”: {_names(stray)}."
    if errors:
        raise ValidationError(errors)


def check_default_count(group: OptionGroup, defaults: int) -> None:
    """A group cannot pick more choices by default than a caller may pick."""
    if defaults > group.max_picks:
        raise ValidationError(
            f"“{group.name}” allows {group.max_picks} pick(s); "
            f"{defaults} of its choices would be defaults."
        )


def other_defaults(group: OptionGroup, choice: Choice | None) -> int:
    """How many choices of `group` other than `choice` are defaults now."""
    rows = Choice.objects.filter(group=group, is_default=True)
    if choice is not None and choice.pk:
        rows = rows.exclude(pk=choice.pk)
    return rows.count()


def _names(names: list[str]) -> str:
    return ", ".join(sorted(names))

"""The demo boba shop: a complete menu on its own number, answered by an offline ordering agent.
`seed_boba_shop` is idempotent (manage.py seed_demo runs it every time)."""

from __future__ import annotations

from decimal import Decimal

from calls.models import Agent, Provider
from orders.models import Category, ChoiceRule, Item, Menu, OptionGroup
from orders.tools import ORDERING_TOOLS
from telephony.models import PhoneNumber, TwilioAccount
from voiceapp.models import Tenant

BOBA_NUMBER = "+15005550007"
BOBA_AGENT = "Boba orders (offline)"
GREETING = "Hi, thanks for calling Demo Boba! What can I get you?"

# group: (min, max, [(choice, price, default, aliases)])
GROUPS = {
    "Size": (1, 1, [("Small", "0", True, "regular size"), ("Large", "1.00", False, "big")]),
    "Toppings": (
        0,
        3,
        [
            ("Boba", "0.75", False, "tapioca, pearls, tapioca pearls, bubbles"),
            ("Egg pudding", "0.75", False, "pudding"),
            ("Crystal agar boba", "0.75", False, "crystal boba, agar boba"),
            ("Vanilla cream", "0.75", False, "cream, vanilla foam, cream foam"),
        ],
    ),
    "Add-ons": (0, 1, [("Matcha stencil", "0.50", False, "stencil, matcha art")]),
    "Sweetness": (
        1,
        1,
        [
            ("Regular sweet", "0", True, "normal sweet, full sweet, regular sugar, full sugar"),
            ("Less sweet", "0", False, "less sugar, light sweet"),
            ("Half sweet", "0", False, "half sugar, fifty percent"),
            ("No sugar", "0", False, "unsweetened, not sweet, zero sugar"),
        ],
    ),
    "Ice": (
        1,
        1,
        [
            ("Regular ice", "0", True, "normal ice"),
            ("Less ice", "0", False, "light ice, little ice"),
            ("No ice", "0", False, "without ice"),
        ],
    ),
}
ITEMS = [
    ("Taro milk tea", "taro tea, taro"),
    ("Black milk tea", "classic milk tea, black tea, milk tea"),
]


def boba_menu(tenant: Tenant, name: str = "Demo Boba") -> Menu:
    """The boba menu: two milk teas, sizes, toppings, the matcha stencil that needs vanilla
    cream, sweetness and ice with defaults; at most 10 drinks an order; no opening hours, so
    always open. Safe to run again."""
    menu, _ = Menu.objects.update_or_create(
        tenant=tenant, name=name, defaults={"max_items_per_order": 10, "active": True}
    )
    category, _ = Category.objects.get_or_create(menu=menu, name="Milk tea")
    groups, choices = [], {}
    for position, (name, (low, high, options)) in enumerate(GROUPS.items()):
        group, _ = OptionGroup.objects.update_or_create(
            menu=menu,
            name=name,
            defaults={"min_picks": low, "max_picks": high, "position": position},
        )
        groups.append(group)
        for spot, (choice, price, default, aliases) in enumerate(options):
            choices[choice], _ = group.choices.update_or_create(
                name=choice,
                defaults={
                    "price": Decimal(price),
                    "is_default": default,
                    "aliases": aliases,
                    "position": spot,
                },
            )
    ChoiceRule.objects.get_or_create(
        menu=menu,
        choice=choices["Matcha stencil"],
        other=choices["Vanilla cream"],
        defaults={"kind": ChoiceRule.Kind.REQUIRES},
    )
    for position, (name, aliases) in enumerate(ITEMS):
        item, _ = Item.objects.update_or_create(
            menu=menu,
            name=name,
            defaults={
                "category": category,
                "price": Decimal("5.50"),
                "aliases": aliases,
                "position": position,
            },
        )
        item.option_groups.set(groups)
    return menu


def seed_boba_shop(tenant: Tenant, account: TwilioAccount) -> Menu:
    """The boba menu, its offline ordering agent (linked to the menu) and its own number on
    `account`. Safe to run again."""
    menu = boba_menu(tenant)
    agent, _ = Agent.objects.update_or_create(
        tenant=tenant,
        name=BOBA_AGENT,
        defaults={
            "greeting": GREETING,
            "system_prompt": "You take boba tea orders for Demo Boba. Read each drink back and "
            "add it only when the caller says yes.",
            "stt_provider": Provider.LOCAL_WHISPER,
            "llm_provider": Provider.SCRIPTED,
            "tts_provider": Provider.PIPER,
            "tts_fallback": Provider.ESPEAK,
            "tools": [*ORDERING_TOOLS, "end_call"],
        },
    )
    menu.agents.add(agent)
    PhoneNumber.objects.update_or_create(
        number=BOBA_NUMBER,
        defaults={
            "tenant": tenant,
            "account": account,
            "agent": agent,
            "friendly_name": "Boba line",
        },
    )
    return menu

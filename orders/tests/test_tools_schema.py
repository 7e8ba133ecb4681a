"""The ordering tools' schemas come from the call's menu (names as enums, per option group),
so a language model cannot order what the shop does not sell; and the demo shop is seeded."""

from __future__ import annotations

import jsonschema
import pytest
from django.core.management import call_command

from calls.models import Agent
from calls.tools import ToolContext, registry
from orders.models import Item, Menu
from orders.tests.test_cart_fixtures import boba
from orders.tools import ORDERING_TOOLS
from telephony.models import PhoneNumber

pytestmark = pytest.mark.django_db


def test_schemas_are_built_from_the_tenants_menu(world_a, world_b):
    _, ctx = boba(world_a)
    menu_b, _ = boba(world_b)
    menu_b.items.filter(name="Taro milk tea").update(name="Brown sugar milk tea")
    stage = registry.get("stage_item").for_call(ctx).parameters
    assert stage["properties"]["item"]["enum"] == ["Taro milk tea", "Black milk tea"]
    options = stage["properties"]["options"]["properties"]
    assert options["Size"] == {
        "type": "string",
        "enum": ["Small", "Large"],
        "description": "pick 1 to 1",
    }
    assert options["Toppings"]["items"]["enum"] == [
        "Boba",
        "Egg pudding",
        "Crystal agar boba",
        "Vanilla cream",
    ]
    change = registry.get("change_staged_item").for_call(ctx).parameters
    assert "Matcha stencil" in change["properties"]["add"]["items"]["enum"]
    # the other tenant's menu is not in this call's schema, and the other way round
    assert "Brown sugar milk tea" not in stage["properties"]["item"]["enum"]
    ctx_b = ToolContext(
        call_id=world_b.call.pk, tenant_id=world_b.tenant.pk, agent_id=world_b.agent.pk, caller=""
    )
    stage_b = registry.get("stage_item").for_call(ctx_b).parameters
    assert stage_b["properties"]["item"]["enum"] == ["Brown sugar milk tea", "Black milk tea"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"item": "Brown sugar milk tea"}, stage)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"item": "Black milk tea", "options": {"Size": "Huge"}}, stage)


def test_the_recogniser_is_given_the_menus_words(world_a):
    from calls.live import plan_call

    boba(world_a)
    agent = world_a.agent
    agent.tools = [*ORDERING_TOOLS, "end_call"]
    agent.save()
    Item.objects.filter(menu__tenant=world_a.tenant, name="Black milk tea").update(available=False)
    hints = plan_call(world_a.call.pk).agent.hints
    assert "hours" in hints  # the knowledge's topics, as before
    for word in ("Taro milk tea", "Boba", "Egg pudding", "Vanilla cream", "Matcha stencil"):
        assert word in hints
    assert "Black milk tea" not in hints  # sold out: not a word to listen for


def test_an_agent_without_a_menu_keeps_the_static_schemas(world_a):
    ctx = ToolContext(
        call_id=world_a.call.pk, tenant_id=world_a.tenant.pk, agent_id=world_a.agent.pk, caller=""
    )
    tool = registry.get("stage_item")
    assert tool.for_call(ctx).parameters == tool.parameters
    assert tool.match("A large taro milk tea.", ctx) is None  # no menu: the brain moves on


def test_seed_demo_adds_the_boba_shop_idempotently():
    call_command("seed_demo", password="pw")
    call_command("seed_demo", password="pw")
    agent = Agent.objects.get(name="Boba orders (offline)")
    assert agent.tools == [*ORDERING_TOOLS, "end_call"]
    assert (agent.stt_provider, agent.llm_provider, agent.tts_provider) == (
        "local_whisper",
        "scripted",
        "piper",
    )
    assert "Demo Boba" in agent.greeting
    number = PhoneNumber.objects.get(number="+15005550007")
    assert number.agent == agent and number.tenant == agent.tenant
    menu = Menu.objects.get(agents=agent)
    assert menu.max_items_per_order == 10 and menu.is_open() and not menu.hours.exists()
    assert Item.objects.filter(menu=menu).count() == 2
    rule = menu.rules.get()
    assert str(rule) == "Matcha stencil requires Vanilla cream"

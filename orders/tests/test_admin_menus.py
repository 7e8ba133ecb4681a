"""Menus in the admin: a tenant's staff see, pick and change only their menus and menu parts;
sold out goes through set_availability (menu_changed is sent); the checks that span rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Choice, ChoiceRule, Item, Menu, OpeningHours, OptionGroup
from orders.signals import menu_changed
from orders.tests.shop import build_shop

PARTS = [
    (Menu, "menu"),
    (Item, "item"),
    (OptionGroup, "size"),
    (Choice, "cream"),
    (ChoiceRule, "rule"),
]


def url(model, action, *args):
    return reverse(f"admin:orders_{model._meta.model_name}_{action}", args=args)


@pytest.fixture
def shop_a(world_a):
    return build_shop(world_a)


@pytest.fixture
def shop_b(world_b):
    return build_shop(world_b)


@pytest.fixture
def staff_a(client, world_a, shop_a, shop_b):
    client.force_login(world_a.staff)
    return client


@pytest.fixture
def menu_events():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    menu_changed.connect(receiver)
    yield seen
    menu_changed.disconnect(receiver)


def inline_management(prefix, total, initial):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def menu_post(shop, **changes):
    """The Menu change form as the page submits it, with the menu's own inline rows."""
    menu = shop.menu
    data = {
        "name": menu.name,
        "active": "on",
        "currency": menu.currency,
        "max_items_per_order": str(menu.max_items_per_order),
        "agents": [a.pk for a in menu.agents.all()],
        **inline_management("categories", 1, 1),
        "categories-0-id": shop.category.pk,
        "categories-0-menu": menu.pk,
        "categories-0-name": shop.category.name,
        "categories-0-position": "0",
        **inline_management("hours", 1, 1),
        "hours-0-id": shop.hours.pk,
        "hours-0-menu": menu.pk,
        "hours-0-weekday": "0",
        "hours-0-opens": "08:00",
        "hours-0-closes": "17:00",
        **inline_management("option_groups", 0, 0),
        **inline_management("rules", 0, 0),
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(("model", "attr"), PARTS)
class TestEachMenuPart:
    def test_changelist_shows_only_own_rows(self, staff_a, shop_a, shop_b, model, attr):
        response = staff_a.get(url(model, "changelist"))
        assert response.status_code == 200
        ids = {obj.pk for obj in response.context["cl"].result_list}
        assert getattr(shop_a, attr).pk in ids
        assert getattr(shop_b, attr).pk not in ids
        # nor in the list filters' choices
        assert shop_b.menu.name not in response.content.decode()

    def test_change_page_of_another_tenant_is_not_shown(self, staff_a, shop_b, model, attr):
        response = staff_a.get(url(model, "change", getattr(shop_b, attr).pk))
        assert response.status_code == 302
        assert response.url == reverse("admin:index")

    def test_own_change_page_is_shown(self, staff_a, shop_a, model, attr):
        assert staff_a.get(url(model, "change", getattr(shop_a, attr).pk)).status_code == 200

    def test_another_tenants_row_cannot_be_deleted(self, staff_a, shop_b, model, attr):
        target = getattr(shop_b, attr)
        staff_a.post(url(model, "delete", target.pk), {"post": "yes"})
        staff_a.post(
            url(model, "changelist"),
            {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"},
        )
        assert model.objects.filter(pk=target.pk).exists()

    def test_outsider_sees_nothing(self, client, outsider, shop_a, model, attr):
        client.force_login(outsider)
        assert client.get(url(model, "changelist")).status_code == 403


def test_item_form_offers_own_menus_categories_and_groups(staff_a, shop_a, shop_b):
    form = staff_a.get(url(Item, "add")).context["adminform"].form
    assert set(form.fields["menu"].queryset) == {shop_a.menu}
    assert set(form.fields["category"].queryset) == {shop_a.category}
    assert set(form.fields["option_groups"].queryset) == {shop_a.size, shop_a.toppings}


def test_item_change_form_offers_only_its_menus_groups(staff_a, world_a, shop_a):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    OptionGroup.objects.create(menu=other, name="Bread")
    form = staff_a.get(url(Item, "change", shop_a.item.pk)).context["adminform"].form
    assert set(form.fields["option_groups"].queryset) == {shop_a.size, shop_a.toppings}


def item_post(shop, **changes):
    data = {
        "menu": shop.menu.pk,
        "category": shop.category.pk,
        "name": "Mocha",
        "description": "",
        "price": "4.50",
        "position": "0",
        "aliases": "",
        "available": "on",
        "option_groups": [shop.size.pk],
    }
    data.update(changes)
    return data


def test_item_is_added_to_own_menu(staff_a, shop_a):
    response = staff_a.post(url(Item, "add"), item_post(shop_a))
    assert response.status_code == 302, response.context["adminform"].form.errors
    item = Item.objects.get(name="Mocha")
    assert item.menu == shop_a.menu and list(item.option_groups.all()) == [shop_a.size]


@pytest.mark.parametrize("field", ["menu", "category", "option_groups"])
def test_item_with_another_tenants_part_is_refused(staff_a, shop_a, shop_b, field):
    target = {"menu": shop_b.menu, "category": shop_b.category, "option_groups": shop_b.size}
    response = staff_a.post(url(Item, "add"), item_post(shop_a, **{field: target[field].pk}))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Item.objects.filter(name="Mocha").exists()


def test_item_with_a_group_of_another_own_menu_is_refused(staff_a, world_a, shop_a):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    bread = OptionGroup.objects.create(menu=other, name="Bread")
    response = staff_a.post(url(Item, "add"), item_post(shop_a, option_groups=[bread.pk]))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["option_groups"] == [
        "Not option groups of the menu “Drinks a”: Bread."
    ]
    assert not Item.objects.filter(name="Mocha").exists()


def test_menu_agent_picker_offers_own_agents_only(staff_a, world_a, shop_a):
    form = staff_a.get(url(Menu, "change", shop_a.menu.pk)).context["adminform"].form
    assert set(form.fields["agents"].queryset) == {world_a.agent}
    assert "tenant" not in form.fields


def test_an_agent_serving_a_menu_is_refused_for_a_second(staff_a, world_a, shop_a):
    response = staff_a.post(
        url(Menu, "add"),
        {
            "name": "Second menu",
            "active": "on",
            "currency": "USD",
            "max_items_per_order": "10",
            "agents": [world_a.agent.pk],
            **inline_management("categories", 0, 0),
            **inline_management("hours", 0, 0),
            **inline_management("option_groups", 0, 0),
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["agents"]
    assert errors[0] == "Agent a already takes orders for the menu “Drinks a”."
    assert not Menu.objects.filter(name="Second menu").exists()


def test_a_menu_without_agents_is_added_for_the_staff_members_tenant(staff_a, world_a):
    response = staff_a.post(
        url(Menu, "add"),
        {
            "name": "Second menu",
            "active": "on",
            "currency": "USD",
            "max_items_per_order": "4",
            **inline_management("categories", 1, 0),
            "categories-0-name": "Tea",
            "categories-0-position": "0",
            **inline_management("hours", 0, 0),
            **inline_management("option_groups", 0, 0),
        },
    )
    assert response.status_code == 302
    menu = Menu.objects.get(name="Second menu")
    assert menu.tenant == world_a.tenant and [c.name for c in menu.categories.all()] == ["Tea"]


def test_rule_pickers_offer_this_menus_choices_only(staff_a, world_a, shop_a):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    Choice.objects.create(group=OptionGroup.objects.create(menu=other, name="Bread"), name="Rye")
    page = staff_a.get(url(Menu, "change", shop_a.menu.pk))
    rules = next(f for f in page.context["inline_admin_formsets"] if f.formset.prefix == "rules")
    own = set(Choice.objects.filter(group__menu=shop_a.menu))
    assert set(rules.formset.forms[0].fields["choice"].queryset) == own
    assert set(rules.formset.forms[0].fields["other"].queryset) == own


def test_a_rule_with_another_tenants_choice_is_refused(staff_a, shop_a, shop_b):
    data = menu_post(
        shop_a,
        **inline_management("rules", 1, 0),
        **{
            "rules-0-menu": shop_a.menu.pk,
            "rules-0-choice": shop_a.large.pk,
            "rules-0-kind": "excludes",
            "rules-0-other": shop_b.cream.pk,
        },
    )
    response = staff_a.post(url(Menu, "change", shop_a.menu.pk), data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert ChoiceRule.objects.filter(menu=shop_a.menu).count() == 1


def test_a_rule_is_added_on_the_menus_page(staff_a, shop_a):
    data = menu_post(
        shop_a,
        **inline_management("rules", 1, 0),
        **{
            "rules-0-menu": shop_a.menu.pk,
            "rules-0-choice": shop_a.large.pk,
            "rules-0-kind": "excludes",
            "rules-0-other": shop_a.stencil.pk,
        },
    )
    response = staff_a.post(url(Menu, "change", shop_a.menu.pk), data)
    assert response.status_code == 302
    assert ChoiceRule.objects.filter(menu=shop_a.menu, kind="excludes").count() == 1


def test_a_standalone_rule_between_two_menus_is_refused(staff_a, world_a, shop_a):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    rye = Choice.objects.create(
        group=OptionGroup.objects.create(menu=other, name="Bread"), name="Rye"
    )
    response = staff_a.post(
        url(ChoiceRule, "add"),
        {"menu": shop_a.menu.pk, "choice": shop_a.cream.pk, "kind": "requires", "other": rye.pk},
    )
    assert response.status_code == 200
    assert "Bread: Rye is not on this menu." in response.content.decode()


def test_rule_autocomplete_offers_own_choices_only(staff_a, shop_a, shop_b):
    response = staff_a.get(
        reverse("admin:autocomplete"),
        {"app_label": "orders", "model_name": "choicerule", "field_name": "choice", "term": "a"},
    )
    assert response.status_code == 200
    found = {int(row["id"]) for row in response.json()["results"]}
    assert shop_a.cream.pk in found and shop_a.large.pk in found
    assert not found & set(
        Choice.objects.filter(group__menu=shop_b.menu).values_list("pk", flat=True)
    )


def test_hours_of_another_tenant_cannot_be_changed_through_own_menu(staff_a, shop_a, shop_b):
    data = menu_post(shop_a, **{"hours-0-id": shop_b.hours.pk, "hours-0-opens": "06:00"})
    staff_a.post(url(Menu, "change", shop_a.menu.pk), data)
    # The inline only ever looks up the menu's own rows: another id is no row of it.
    shop_b.hours.refresh_from_db()
    assert shop_b.hours.opens.hour == 8 and shop_b.hours.menu == shop_b.menu
    assert [h.opens.hour for h in OpeningHours.objects.filter(menu=shop_a.menu)] == [8]


def test_own_hours_are_changed_on_the_menus_page(staff_a, shop_a):
    response = staff_a.post(
        url(Menu, "change", shop_a.menu.pk), menu_post(shop_a, **{"hours-0-opens": "07:30"})
    )
    assert response.status_code == 302
    shop_a.hours.refresh_from_db()
    assert shop_a.hours.opens.strftime("%H:%M") == "07:30"


def test_group_form_offers_own_menus_and_refuses_min_over_max(staff_a, shop_a):
    form = staff_a.get(url(OptionGroup, "add")).context["adminform"].form
    assert set(form.fields["menu"].queryset) == {shop_a.menu}
    response = staff_a.post(
        url(OptionGroup, "add"),
        {
            "menu": shop_a.menu.pk,
            "name": "Ice",
            "min_picks": "3",
            "max_picks": "1",
            "position": "0",
            **inline_management("choices", 0, 0),
        },
    )
    assert response.status_code == 200
    assert "Minimum picks cannot exceed maximum picks." in response.content.decode()
    assert not OptionGroup.objects.filter(name="Ice").exists()


def group_post(shop, group, **changes):
    choices = list(group.choices.all())
    data = {
        "menu": shop.menu.pk,
        "name": group.name,
        "min_picks": str(group.min_picks),
        "max_picks": str(group.max_picks),
        "position": "0",
        **inline_management("choices", len(choices), len(choices)),
    }
    for i, choice in enumerate(choices):
        data.update(
            {
                f"choices-{i}-id": choice.pk,
                f"choices-{i}-group": group.pk,
                f"choices-{i}-name": choice.name,
                f"choices-{i}-price": str(choice.price),
                f"choices-{i}-position": "0",
                f"choices-{i}-aliases": choice.aliases,
            }
        )
        if choice.is_default:
            data[f"choices-{i}-is_default"] = "on"
        if choice.available:
            data[f"choices-{i}-available"] = "on"
    data.update(changes)
    return data


def test_more_defaults_than_picks_is_refused(staff_a, shop_a):
    size = shop_a.size  # max_picks 1, "Small a" is the default
    large_index = [c.pk for c in size.choices.all()].index(shop_a.large.pk)
    data = group_post(shop_a, size, **{f"choices-{large_index}-is_default": "on"})
    response = staff_a.post(url(OptionGroup, "change", size.pk), data)
    assert response.status_code == 200
    assert "allows 1 pick(s); 2 of its choices would be defaults" in response.content.decode()
    shop_a.large.refresh_from_db()
    assert not shop_a.large.is_default


def test_a_choice_sold_out_on_its_groups_page_goes_through_the_action(
    staff_a, shop_a, menu_events, django_capture_on_commit_callbacks
):
    toppings = shop_a.toppings
    index = [c.pk for c in toppings.choices.all()].index(shop_a.cream.pk)
    data = group_post(shop_a, toppings)
    del data[f"choices-{index}-available"]
    data[f"choices-{index}-price"] = "0.75"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_a.post(url(OptionGroup, "change", toppings.pk), data)
    assert response.status_code == 302
    shop_a.cream.refresh_from_db()
    assert not shop_a.cream.available and shop_a.cream.price == Decimal("0.75")
    assert menu_events == [
        {"signal": menu_changed, "tenant_id": shop_a.menu.tenant_id, "menu_id": shop_a.menu.pk}
    ]


def test_item_list_has_one_click_sold_out(staff_a, shop_a):
    body = staff_a.get(url(Item, "changelist")).content.decode()
    assert f'formaction="{url(Item, "availability", shop_a.item.pk)}"' in body
    assert 'name="available" value="0"' in body


def test_sold_out_from_the_list_sends_menu_changed(
    staff_a, shop_a, menu_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_a.post(
            url(Item, "availability", shop_a.item.pk),
            {"available": "0"},
            HTTP_REFERER="http://testserver" + url(Item, "changelist") + "?available__exact=1",
        )
    assert response.status_code == 302
    assert response.url == "http://testserver" + url(Item, "changelist") + "?available__exact=1"
    shop_a.item.refresh_from_db()
    assert not shop_a.item.available
    assert menu_events == [
        {"signal": menu_changed, "tenant_id": shop_a.menu.tenant_id, "menu_id": shop_a.menu.pk}
    ]
    with django_capture_on_commit_callbacks(execute=True):
        staff_a.post(url(Item, "availability", shop_a.item.pk), {"available": "1"})
    shop_a.item.refresh_from_db()
    assert shop_a.item.available and len(menu_events) == 2


def test_sold_out_of_another_tenants_item_is_404(staff_a, shop_b, menu_events):
    response = staff_a.post(url(Item, "availability", shop_b.item.pk), {"available": "0"})
    assert response.status_code == 404
    shop_b.item.refresh_from_db()
    assert shop_b.item.available and menu_events == []


def test_sold_out_with_no_state_changes_nothing(staff_a, shop_a, menu_events):
    response = staff_a.post(url(Item, "availability", shop_a.item.pk), {"available": "maybe"})
    assert response.status_code == 302
    shop_a.item.refresh_from_db()
    assert shop_a.item.available and menu_events == []


def test_sold_out_action_marks_the_selected(
    staff_a, shop_a, shop_b, menu_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_a.post(
            url(Choice, "changelist"),
            {"action": "mark_sold_out", "_selected_action": [shop_a.cream.pk, shop_b.cream.pk]},
        )
    assert response.status_code == 302
    shop_a.cream.refresh_from_db()
    shop_b.cream.refresh_from_db()
    assert not shop_a.cream.available
    assert shop_b.cream.available  # not the staff member's to change
    assert [e["menu_id"] for e in menu_events] == [shop_a.menu.pk]


def test_unticking_available_on_the_item_page_goes_through_the_action(
    staff_a, shop_a, menu_events, django_capture_on_commit_callbacks
):
    data = item_post(shop_a, name=shop_a.item.name, option_groups=[shop_a.size.pk])
    del data["available"]
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_a.post(url(Item, "change", shop_a.item.pk), data)
    assert response.status_code == 302
    shop_a.item.refresh_from_db()
    assert not shop_a.item.available and list(shop_a.item.option_groups.all()) == [shop_a.size]
    assert [e["menu_id"] for e in menu_events] == [shop_a.menu.pk]


@pytest.mark.parametrize("model", [Menu, Item, OptionGroup, Choice, ChoiceRule])
def test_superuser_sees_both_tenants_and_every_page_renders(admin_client, shop_a, shop_b, model):
    response = admin_client.get(url(model, "changelist"))
    assert response.status_code == 200 and response.context["cl"].result_count >= 2
    assert admin_client.get(url(model, "add")).status_code == 200

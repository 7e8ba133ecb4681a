"""The menus API: a tenant's staff read and write only their menus and menu parts; references
to another tenant's rows are refused; availability goes through set_availability."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import Choice, Item, Menu, OptionGroup
from orders.signals import menu_changed
from orders.tests.shop import build_shop
from voiceapp.models import Membership
from voiceapp.tenancy import tenant_path

ENDPOINTS = [
    ("menus", "menu"),
    ("categories", "category"),
    ("opening-hours", "hours"),
    ("option-groups", "size"),
    ("choices", "cream"),
    ("items", "item"),
    ("choice-rules", "rule"),
]


@pytest.fixture
def shop_a(world_a):
    return build_shop(world_a)


@pytest.fixture
def shop_b(world_b):
    return build_shop(world_b)


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api_a(world_a, shop_a, shop_b):
    return token_client(world_a.staff)


@pytest.fixture
def clerk_a(world_a, shop_a, shop_b):
    """A staff member of tenant A who is not an owner: menus are every member's to manage."""
    user = get_user_model().objects.create_user("clerk", password="pw-for-tests", is_staff=True)
    Membership.objects.create(user=user, tenant=world_a.tenant, role=Membership.Role.STAFF)
    return token_client(user)


@pytest.fixture
def menu_events():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    menu_changed.connect(receiver)
    yield seen
    menu_changed.disconnect(receiver)


def ids(response):
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize(("endpoint", "attr"), ENDPOINTS)
class TestEachEndpoint:
    def test_list_shows_only_own_rows(self, api_a, shop_a, endpoint, attr):
        response = api_a.get(f"/api/{endpoint}/")
        assert response.status_code == 200
        assert getattr(shop_a, attr).pk in ids(response)
        model = type(getattr(shop_a, attr))
        theirs = model.objects.filter(**{f"{tenant_path(model)}__slug": "b"})
        assert theirs.exists()
        assert ids(response).isdisjoint(theirs.values_list("pk", flat=True))

    def test_own_row_is_read(self, api_a, shop_a, endpoint, attr):
        assert api_a.get(f"/api/{endpoint}/{getattr(shop_a, attr).pk}/").status_code == 200

    def test_another_tenants_row_is_404(self, api_a, shop_b, endpoint, attr):
        pk = getattr(shop_b, attr).pk
        assert api_a.get(f"/api/{endpoint}/{pk}/").status_code == 404
        assert (
            api_a.patch(f"/api/{endpoint}/{pk}/", {"name": "x"}, format="json").status_code == 404
        )
        assert api_a.delete(f"/api/{endpoint}/{pk}/").status_code == 404
        assert type(getattr(shop_b, attr)).objects.filter(pk=pk).exists()

    def test_outsider_and_anonymous_are_refused(self, outsider, shop_a, endpoint, attr):
        client = APIClient()
        assert client.get(f"/api/{endpoint}/").status_code in (401, 403)
        client.force_authenticate(outsider)
        assert client.get(f"/api/{endpoint}/").status_code == 403


def test_menu_detail_nests_its_parts(api_a, shop_a, world_a):
    body = api_a.get(f"/api/menus/{shop_a.menu.pk}/").json()
    assert body["tenant"] == world_a.tenant.pk and body["agents"] == [world_a.agent.pk]
    assert [c["name"] for c in body["categories"]] == ["Coffee a"]
    assert body["hours"] == [
        {
            "id": shop_a.hours.pk,
            "menu": shop_a.menu.pk,
            "weekday": 0,
            "opens": "08:00:00",
            "closes": "17:00:00",
        }
    ]
    size = next(g for g in body["option_groups"] if g["name"] == "Size a")
    assert {c["name"] for c in size["choices"]} == {"Small a", "Large a"}
    assert body["items"][0]["option_groups"] == [shop_a.size.pk, shop_a.toppings.pk]
    assert body["rules"] == [
        {
            "id": shop_a.rule.pk,
            "menu": shop_a.menu.pk,
            "choice": shop_a.stencil.pk,
            "kind": "requires",
            "other": shop_a.cream.pk,
        }
    ]


def test_parts_are_listed_per_menu(api_a, world_a, shop_a):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    bread = OptionGroup.objects.create(menu=other, name="Bread")
    assert ids(api_a.get("/api/option-groups/", {"menu": other.pk})) == {bread.pk}
    assert ids(api_a.get("/api/choices/", {"group": shop_a.size.pk})) == set(
        shop_a.size.choices.values_list("pk", flat=True)
    )
    assert api_a.get("/api/items/", {"menu": "x"}).status_code == 400


def item_body(shop, **changes):
    body = {
        "menu": shop.menu.pk,
        "category": shop.category.pk,
        "name": "Mocha",
        "price": "4.50",
        "aliases": "chocolate coffee",
        "option_groups": [shop.size.pk],
    }
    body.update(changes)
    return body


def test_staff_member_creates_updates_and_deletes_an_item(clerk_a, shop_a):
    created = clerk_a.post("/api/items/", item_body(shop_a), format="json")
    assert created.status_code == 201, created.json()
    item = Item.objects.get(pk=created.json()["id"])
    assert item.menu == shop_a.menu and list(item.option_groups.all()) == [shop_a.size]
    changed = clerk_a.patch(
        f"/api/items/{item.pk}/", {"price": "5.00", "option_groups": []}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    item.refresh_from_db()
    assert str(item.price) == "5.00" and not item.option_groups.exists()
    assert clerk_a.delete(f"/api/items/{item.pk}/").status_code == 204
    assert not Item.objects.filter(pk=item.pk).exists()


@pytest.mark.parametrize("field", ["menu", "category", "option_groups"])
def test_an_item_referring_to_another_tenants_part_is_refused(api_a, shop_a, shop_b, field):
    theirs = {
        "menu": shop_b.menu.pk,
        "category": shop_b.category.pk,
        "option_groups": [shop_b.size.pk],
    }
    response = api_a.post("/api/items/", item_body(shop_a, **{field: theirs[field]}), format="json")
    assert response.status_code == 400
    assert "does not exist" in str(response.json()[field])
    assert not Item.objects.filter(name="Mocha").exists()


def test_an_item_with_a_group_of_another_menu_is_refused(api_a, world_a, shop_a):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    bread = OptionGroup.objects.create(menu=other, name="Bread")
    response = api_a.patch(
        f"/api/items/{shop_a.item.pk}/", {"option_groups": [bread.pk]}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "option_groups": ["Not option groups of the menu “Drinks a”: Bread."]
    }
    assert set(shop_a.item.option_groups.all()) == {shop_a.size, shop_a.toppings}


def test_moving_an_item_to_another_menu_without_its_category_is_refused(api_a, world_a, shop_a):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    response = api_a.patch(
        f"/api/items/{shop_a.item.pk}/", {"menu": other.pk, "option_groups": []}, format="json"
    )
    assert response.status_code == 400 and "category" in response.json()


def test_choices_and_groups_are_written(api_a, shop_a):
    group = api_a.post(
        "/api/option-groups/",
        {"menu": shop_a.menu.pk, "name": "Ice", "min_picks": 0, "max_picks": 1},
        format="json",
    )
    assert group.status_code == 201, group.json()
    choice = api_a.post(
        "/api/choices/",
        {"group": group.json()["id"], "name": "Less ice", "price": "0", "is_default": True},
        format="json",
    )
    assert choice.status_code == 201, choice.json()
    second_default = api_a.post(
        "/api/choices/",
        {"group": group.json()["id"], "name": "No ice", "is_default": True},
        format="json",
    )
    assert second_default.status_code == 400
    assert second_default.json() == {
        "is_default": ["“Ice” allows 1 pick(s); 2 of its choices would be defaults."]
    }
    assert api_a.patch(
        f"/api/option-groups/{group.json()['id']}/", {"min_picks": 2}, format="json"
    ).json() == {"non_field_errors": ["Minimum picks cannot exceed maximum picks."]}
    renamed = api_a.patch(
        f"/api/choices/{choice.json()['id']}/", {"name": "Light ice"}, format="json"
    )
    assert renamed.status_code == 200 and renamed.json()["is_default"] is True
    assert api_a.delete(f"/api/choices/{choice.json()['id']}/").status_code == 204
    assert api_a.delete(f"/api/option-groups/{group.json()['id']}/").status_code == 204
    assert not OptionGroup.objects.filter(name="Ice").exists()


def test_lowering_a_groups_maximum_below_its_defaults_is_refused(api_a, shop_a):
    Choice.objects.filter(group=shop_a.toppings).update(is_default=True)  # two defaults of 3
    response = api_a.patch(
        f"/api/option-groups/{shop_a.toppings.pk}/", {"max_picks": 1}, format="json"
    )
    assert response.status_code == 400 and "max_picks" in response.json()


def test_a_choice_in_another_tenants_group_is_refused(api_a, shop_b):
    response = api_a.post("/api/choices/", {"group": shop_b.size.pk, "name": "X"}, format="json")
    assert response.status_code == 400 and "group" in response.json()
    assert not Choice.objects.filter(name="X").exists()


def test_rules_between_menus_and_tenants_are_refused(api_a, world_a, shop_a, shop_b):
    other = Menu.objects.create(tenant=world_a.tenant, name="Food a")
    rye = Choice.objects.create(
        group=OptionGroup.objects.create(menu=other, name="Bread"), name="Rye"
    )
    body = {"menu": shop_a.menu.pk, "choice": shop_a.large.pk, "kind": "excludes"}
    across_menus = api_a.post("/api/choice-rules/", {**body, "other": rye.pk}, format="json")
    assert across_menus.status_code == 400
    assert across_menus.json() == {"non_field_errors": ["Bread: Rye is not on this menu."]}
    across_tenants = api_a.post(
        "/api/choice-rules/", {**body, "other": shop_b.cream.pk}, format="json"
    )
    assert across_tenants.status_code == 400 and "other" in across_tenants.json()
    ok = api_a.post("/api/choice-rules/", {**body, "other": shop_a.stencil.pk}, format="json")
    assert ok.status_code == 201, ok.json()


def test_menus_are_created_for_own_tenant_with_own_free_agents(clerk_a, world_a, shop_b):
    created = clerk_a.post("/api/menus/", {"name": "Food", "max_items_per_order": 3}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["tenant"] == world_a.tenant.pk
    theirs = clerk_a.post(
        "/api/menus/", {"name": "Food 2", "agents": [shop_b.menu.agents.get().pk]}, format="json"
    )
    assert theirs.status_code == 400 and "does not exist" in str(theirs.json()["agents"])
    taken = clerk_a.patch(
        f"/api/menus/{created.json()['id']}/", {"agents": [world_a.agent.pk]}, format="json"
    )
    assert taken.status_code == 400
    assert taken.json()["agents"][0] == "Agent a already takes orders for the menu “Drinks a”."
    elsewhere = clerk_a.post(
        "/api/menus/", {"name": "Food 3", "tenant": shop_b.menu.tenant_id}, format="json"
    )
    assert elsewhere.status_code == 400 and "tenant" in elsewhere.json()


def test_a_menu_with_orders_is_not_deleted(api_a, shop_a):
    response = api_a.delete(f"/api/menus/{shop_a.menu.pk}/")
    assert response.status_code == 409
    assert Menu.objects.filter(pk=shop_a.menu.pk).exists()


def test_availability_goes_through_the_action(
    api_a, shop_a, menu_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a.post(
            f"/api/items/{shop_a.item.pk}/availability/", {"available": False}, format="json"
        )
    assert response.status_code == 200 and response.json()["available"] is False
    shop_a.item.refresh_from_db()
    assert not shop_a.item.available
    assert menu_events == [
        {"signal": menu_changed, "tenant_id": shop_a.menu.tenant_id, "menu_id": shop_a.menu.pk}
    ]
    with django_capture_on_commit_callbacks(execute=True):
        patched = api_a.patch(
            f"/api/choices/{shop_a.cream.pk}/", {"available": False}, format="json"
        )
    assert patched.status_code == 200 and patched.json()["available"] is False
    shop_a.cream.refresh_from_db()
    assert not shop_a.cream.available and len(menu_events) == 2


def test_availability_needs_a_yes_or_no_and_an_own_row(api_a, shop_a, shop_b, menu_events):
    bad = api_a.post(f"/api/items/{shop_a.item.pk}/availability/", {}, format="json")
    assert bad.status_code == 400 and "available" in bad.json()
    theirs = api_a.post(
        f"/api/choices/{shop_b.cream.pk}/availability/", {"available": False}, format="json"
    )
    assert theirs.status_code == 404
    shop_b.cream.refresh_from_db()
    assert shop_b.cream.available and menu_events == []

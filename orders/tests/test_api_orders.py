"""The orders API: a tenant's staff list, filter and read their orders, and move them through
change_status; a refused move is 409 with the reason."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from orders.models import Order, OrderStatus
from orders.signals import order_changed
from orders.tests.shop import build_shop
from voiceapp.models import Membership


@pytest.fixture
def shop_a(world_a):
    return build_shop(world_a)


@pytest.fixture
def shop_b(world_b):
    return build_shop(world_b)


@pytest.fixture
def clerk_a(world_a, shop_a, shop_b):
    """A staff member (not an owner) of tenant A."""
    user = get_user_model().objects.create_user("clerk", password="pw-for-tests", is_staff=True)
    Membership.objects.create(user=user, tenant=world_a.tenant, role=Membership.Role.STAFF)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_list_shows_only_own_orders(clerk_a, shop_a):
    response = clerk_a.get("/api/orders/")
    assert response.status_code == 200 and ids(response) == {shop_a.order.pk}


def test_list_filters_by_status_date_and_menu(clerk_a, shop_a):
    day = shop_a.order.business_date.isoformat()
    assert ids(clerk_a.get("/api/orders/", {"status": "received", "date": day})) == {
        shop_a.order.pk
    }
    assert ids(clerk_a.get("/api/orders/", {"status": "ready"})) == set()
    assert ids(clerk_a.get("/api/orders/", {"date": "2001-01-01"})) == set()
    assert ids(clerk_a.get("/api/orders/", {"menu": shop_a.menu.pk})) == {shop_a.order.pk}


@pytest.mark.parametrize(
    ("params", "field"), [({"status": "eaten"}, "status"), ({"date": "monday"}, "date")]
)
def test_bad_filters_are_400(clerk_a, params, field):
    response = clerk_a.get("/api/orders/", params)
    assert response.status_code == 400 and field in response.json()


def test_detail_has_the_lines(clerk_a, world_a, shop_a):
    body = clerk_a.get(f"/api/orders/{shop_a.order.pk}/").json()
    assert body["number"] == shop_a.order.number and body["call"] == world_a.call.pk
    assert body["total"] == "5.00" and body["status"] == "received"
    assert body["lines"] == [
        {
            "position": 0,
            "item": shop_a.item.pk,
            "name": "Latte a",
            "quantity": 1,
            "unit_price": "5.00",
            "line_total": "5.00",
            "options": [{"group": "Size a", "choice": "Large a", "price": "1.00"}],
        }
    ]


def test_another_tenants_order_is_404(clerk_a, shop_b):
    assert clerk_a.get(f"/api/orders/{shop_b.order.pk}/").status_code == 404
    response = clerk_a.post(
        f"/api/orders/{shop_b.order.pk}/status/", {"status": "ready"}, format="json"
    )
    assert response.status_code == 404
    shop_b.order.refresh_from_db()
    assert shop_b.order.status == OrderStatus.RECEIVED


def test_status_change_moves_the_order(clerk_a, shop_a, django_capture_on_commit_callbacks):
    seen = []
    order_changed.connect(lambda sender, **kw: seen.append(kw), weak=False, dispatch_uid="t")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = clerk_a.post(
                f"/api/orders/{shop_a.order.pk}/status/", {"status": "ready"}, format="json"
            )
    finally:
        order_changed.disconnect(dispatch_uid="t")
    assert response.status_code == 200
    assert response.json()["status"] == "ready" and response.json()["ready_at"]
    assert Order.objects.get(pk=shop_a.order.pk).status == OrderStatus.READY
    assert [(e["status"], e["previous"], e["by"]) for e in seen] == [("ready", "received", "clerk")]


def test_a_refused_move_is_409_with_the_reason(clerk_a, shop_a):
    response = clerk_a.post(
        f"/api/orders/{shop_a.order.pk}/status/", {"status": "picked_up"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Order {shop_a.order.number} is received; it cannot become picked up."
    }
    assert Order.objects.get(pk=shop_a.order.pk).status == OrderStatus.RECEIVED


def test_an_unknown_status_is_400(clerk_a, shop_a):
    response = clerk_a.post(
        f"/api/orders/{shop_a.order.pk}/status/", {"status": "eaten"}, format="json"
    )
    assert response.status_code == 400 and "status" in response.json()


def test_orders_are_not_written_through_the_api(clerk_a, shop_a):
    assert clerk_a.patch(f"/api/orders/{shop_a.order.pk}/", {"phone": "+1"}).status_code == 405
    assert clerk_a.delete(f"/api/orders/{shop_a.order.pk}/").status_code == 405
    assert clerk_a.post("/api/orders/", {"phone": "+1"}).status_code == 405


def test_schema_documents_the_orders_api(admin_client):
    schema = admin_client.get("/api/schema/").content.decode()
    for path in ("/api/menus/{id}/", "/api/items/{id}/availability/", "/api/orders/{id}/status/"):
        assert path in schema
    assert "OrderStatusEnum" in schema

"""Orders in the admin: a tenant's staff read and search only their orders, move them through
change_status (a refused move is a message, not an error page), and never edit them by hand."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from orders.models import AbandonedCart, Order, OrderStatus
from orders.signals import order_changed
from orders.tests.shop import build_shop


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
def order_events():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    order_changed.connect(receiver)
    yield seen
    order_changed.disconnect(receiver)


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(("model", "attr"), [(Order, "order"), (AbandonedCart, "cart")])
class TestRecords:
    def test_changelist_shows_only_own_rows(self, staff_a, shop_a, shop_b, model, attr):
        response = staff_a.get(url(model, "changelist"))
        ids = {obj.pk for obj in response.context["cl"].result_list}
        assert ids == {getattr(shop_a, attr).pk}
        assert shop_b.menu.name not in response.content.decode()

    def test_change_page_of_another_tenant_is_not_shown(self, staff_a, shop_b, model, attr):
        response = staff_a.get(url(model, "change", getattr(shop_b, attr).pk))
        assert response.status_code == 302 and response.url == reverse("admin:index")

    def test_records_are_read_only(self, staff_a, shop_a, model, attr):
        obj = getattr(shop_a, attr)
        page = staff_a.get(url(model, "change", obj.pk))
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        assert staff_a.get(url(model, "add")).status_code == 403
        assert staff_a.post(url(model, "change", obj.pk), {"phone": "+1"}).status_code == 403
        assert staff_a.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        assert model.objects.filter(pk=obj.pk).exists()


def test_order_list_columns_search_and_filters(staff_a, shop_a):
    response = staff_a.get(url(Order, "changelist"), {"q": shop_a.order.number})
    assert [o.pk for o in response.context["cl"].result_list] == [shop_a.order.pk]
    body = response.content.decode()
    for text in ("Number", "Business date", "Status", "Phone", "Total", shop_a.order.phone):
        assert text in body
    assert staff_a.get(url(Order, "changelist"), {"q": "+1999"}).context["cl"].result_count == 0
    ready = staff_a.get(url(Order, "changelist"), {"status__exact": "ready"})
    assert ready.context["cl"].result_count == 0
    received = staff_a.get(url(Order, "changelist"), {"status__exact": "received"})
    assert received.context["cl"].result_count == 1
    assert 'href="/orders/">Live boards and console</a>' in body  # the way to the boards


def test_order_page_shows_lines_call_times_and_buttons(staff_a, world_a, shop_a):
    body = staff_a.get(url(Order, "change", shop_a.order.pk)).content.decode()
    assert "Latte a" in body and "Size a: Large a" in body
    assert reverse("admin:calls_call_change", args=[world_a.call.pk]) in body
    status_url = url(Order, "status", shop_a.order.pk)
    assert f'name="status" value="in_progress" formaction="{status_url}"' in body
    assert 'value="picked_up"' not in body  # not a move a received order may make
    assert "Ready at" in body and "Picked up at" in body


def test_status_button_moves_the_order(
    staff_a, world_a, shop_a, order_events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_a.post(url(Order, "status", shop_a.order.pk), {"status": "ready"})
    assert response.status_code == 302
    assert response.url == url(Order, "change", shop_a.order.pk)
    shop_a.order.refresh_from_db()
    assert shop_a.order.status == OrderStatus.READY and shop_a.order.ready_at is not None
    assert order_events[-1]["status"] == "ready"
    assert order_events[-1]["by"] == world_a.staff.username


def test_a_refused_move_is_a_message(staff_a, shop_a):
    response = staff_a.post(url(Order, "status", shop_a.order.pk), {"status": "picked_up"})
    assert response.status_code == 302
    assert texts(response) == [
        f"Order {shop_a.order.number} is received; it cannot become picked up."
    ]
    shop_a.order.refresh_from_db()
    assert shop_a.order.status == OrderStatus.RECEIVED


def test_an_unknown_status_is_a_message(staff_a, shop_a):
    response = staff_a.post(url(Order, "status", shop_a.order.pk), {"status": "eaten"})
    assert response.status_code == 302 and texts(response) == ["Unknown status “eaten”."]


def test_another_tenants_order_cannot_be_moved(staff_a, shop_b):
    response = staff_a.post(url(Order, "status", shop_b.order.pk), {"status": "ready"})
    assert response.status_code == 404
    shop_b.order.refresh_from_db()
    assert shop_b.order.status == OrderStatus.RECEIVED


def test_status_page_is_post_only(staff_a, shop_a):
    assert staff_a.get(url(Order, "status", shop_a.order.pk)).status_code == 405


def test_status_actions_move_own_orders_and_report_refusals(staff_a, shop_a, shop_b):
    response = staff_a.post(
        url(Order, "changelist"),
        {"action": "mark_in_progress", "_selected_action": [shop_a.order.pk, shop_b.order.pk]},
    )
    assert response.status_code == 302
    assert texts(response) == ["1 order(s) now in progress."]
    shop_a.order.refresh_from_db()
    shop_b.order.refresh_from_db()
    assert shop_a.order.status == OrderStatus.IN_PROGRESS and shop_a.order.started_at
    assert shop_b.order.status == OrderStatus.RECEIVED
    refused = staff_a.post(
        url(Order, "changelist"),
        {"action": "mark_picked_up", "_selected_action": [shop_a.order.pk]},
    )
    assert texts(refused)[-1] == (
        f"Order {shop_a.order.number} is in progress; it cannot become picked up."
    )
    shop_a.order.refresh_from_db()
    assert shop_a.order.status == OrderStatus.IN_PROGRESS


def test_abandoned_cart_page_shows_the_cart(staff_a, shop_a):
    body = staff_a.get(url(AbandonedCart, "change", shop_a.cart.pk)).content.decode()
    assert "1 x Latte a" in body and "caller_hung_up" in body

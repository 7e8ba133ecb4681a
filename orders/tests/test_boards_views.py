"""The board and console pages and the console's status endpoint: staff of the tenant only,
one action per change, and a clear answer for every refusal."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from orders.models import Order
from orders.signals import order_changed
from orders.tests.test_boards import make_menu, place

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def order_a(world_a):
    return place(make_menu(world_a.tenant))


@pytest.fixture
def order_b(world_b):
    return place(make_menu(world_b.tenant))


def post_status(client: Client, slug: str, order_id: int, body) -> object:
    return client.post(
        f"/orders/{slug}/console/orders/{order_id}/status/",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
    )


# -- the pages


@pytest.mark.parametrize("page", ["board", "console"])
def test_staff_get_the_page_with_its_static_scripts_only(world_a, page):
    response = client_for(world_a.staff).get(f"/orders/a/{page}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-socket="/ws/orders/a/"' in html
    assert f"/static/orders/{page}.js" in html and "/static/orders/live.js" in html
    # The CSP allows no inline script: every <script> has a src.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("page", ["board", "console"])
def test_others_get_404(world_a, world_b, outsider, page):
    assert client_for(world_b.staff).get(f"/orders/a/{page}/").status_code == 404
    assert client_for(outsider).get(f"/orders/a/{page}/").status_code == 404
    assert client_for(world_a.staff).get(f"/orders/nope/{page}/").status_code == 404


@pytest.mark.parametrize("page", ["board", "console"])
def test_a_visitor_is_sent_to_the_admin_login(world_a, page):
    response = Client().get(f"/orders/a/{page}/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next=/orders/a/{page}/"


def test_a_superuser_opens_any_tenants_console(world_a):
    boss = get_user_model().objects.create_superuser("boss", password="pw-for-tests")
    assert client_for(boss).get("/orders/a/console/").status_code == 200


def test_an_inactive_tenants_boards_are_closed(world_a):
    world_a.tenant.active = False
    world_a.tenant.save(update_fields=["active"])
    assert client_for(world_a.staff).get("/orders/a/board/").status_code == 404


def test_the_index_lists_only_the_users_shops(world_a, world_b):
    html = client_for(world_a.staff).get("/orders/").content.decode()
    assert "/orders/a/board/" in html and "/orders/a/console/" in html
    assert "/orders/b/" not in html


# -- the status endpoint


def test_staff_move_an_order_and_get_it_back(world_a, order_a, django_capture_on_commit_callbacks):
    announced = []

    def receiver(sender, **kw):
        announced.append((kw["status"], kw["by"]))

    order_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_status(client_for(world_a.staff), "a", order_a.pk, {"status": "ready"})
    finally:
        order_changed.disconnect(receiver)
    assert response.status_code == 200
    assert response.json()["order"]["status"] == "ready"
    assert [a["status"] for a in response.json()["order"]["actions"]] == ["picked_up", "cancelled"]
    order_a.refresh_from_db()
    assert order_a.status == "ready" and order_a.ready_at is not None
    assert announced == [("ready", world_a.staff.username)]  # order_changed, sent on commit


def test_a_move_the_status_does_not_allow_is_refused_with_the_reason(world_a, order_a):
    client = client_for(world_a.staff)
    assert post_status(client, "a", order_a.pk, {"status": "cancelled"}).status_code == 200
    response = post_status(client, "a", order_a.pk, {"status": "ready"})
    assert response.status_code == 409
    assert (
        response.json()["error"] == f"Order {order_a.number} is cancelled; it cannot become ready."
    )
    assert response.json()["order"]["status"] == "cancelled"
    order_a.refresh_from_db()
    assert order_a.status == "cancelled" and order_a.ready_at is None


@pytest.mark.parametrize(
    "body", [{"status": "done"}, {}, "not json", '["ready"]', {"status": ["ready"]}]
)
def test_bad_input_gets_400_and_changes_nothing(world_a, order_a, body):
    response = post_status(client_for(world_a.staff), "a", order_a.pk, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Unknown status; use one of: received, ")
    order_a.refresh_from_db()
    assert order_a.status == "received"


def test_staff_cannot_move_another_tenants_order(world_a, world_b, order_a, order_b, outsider):
    # Through their own shop's URL with the other's order id ...
    assert (
        post_status(client_for(world_a.staff), "a", order_b.pk, {"status": "ready"}).status_code
        == 404
    )
    # ... or through the other shop's URL.
    assert (
        post_status(client_for(world_a.staff), "b", order_b.pk, {"status": "ready"}).status_code
        == 404
    )
    assert (
        post_status(client_for(outsider), "b", order_b.pk, {"status": "ready"}).status_code == 404
    )
    assert set(Order.objects.values_list("status", flat=True)) == {"received"}


def test_a_visitor_is_refused_without_a_redirect(order_a):
    response = post_status(Client(), "a", order_a.pk, {"status": "ready"})
    assert response.status_code == 403
    assert "log in" in response.json()["error"]
    order_a.refresh_from_db()
    assert order_a.status == "received"


def test_the_endpoint_wants_a_csrf_token_and_a_post(world_a, order_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world_a.staff, backend="django.contrib.auth.backends.ModelBackend")
    assert post_status(client, "a", order_a.pk, {"status": "ready"}).status_code == 403
    assert (
        client_for(world_a.staff).get(f"/orders/a/console/orders/{order_a.pk}/status/").status_code
        == 405
    )
    order_a.refresh_from_db()
    assert order_a.status == "received"


@override_settings(
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": "redis://127.0.0.1:1/0", "socket_connect_timeout": 1}]
            },
        }
    }
)
def test_a_change_is_kept_when_the_boards_cannot_be_told(
    world_a, order_a, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_status(client_for(world_a.staff), "a", order_a.pk, {"status": "ready"})
    assert response.status_code == 200
    order_a.refresh_from_db()
    assert order_a.status == "ready"
    assert "live boards not told of a change" in caplog.text

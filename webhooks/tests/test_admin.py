"""The admin: a tenant's staff see only their endpoints and deliveries; the secret is
write-only; a delivery can be redelivered."""

from __future__ import annotations

import pytest
from django.urls import reverse

from telephony.tests.test_texts import empty_queues  # noqa: F401 (fixture)
from webhooks.models import Delivery, DeliveryStatus, WebhookEndpoint

SECRET_A = "secret-of-shop-a-0123456789"


def url(model, action, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


def endpoint_and_delivery(world, secret):
    endpoint = WebhookEndpoint.objects.create(
        tenant=world.tenant,
        name=f"Till {world.tenant.slug}",
        url="https://till.test/",
        secret=secret,
    )
    delivery = Delivery.objects.create(
        tenant=world.tenant,
        endpoint=endpoint,
        event="order.created",
        key=f"order-{world.tenant.slug}-created",
        payload={},
        status=DeliveryStatus.FAILED,
        attempts=6,
        response_status=500,
        response_body="boom",
    )
    return endpoint, delivery


@pytest.fixture
def rows(world_a, world_b):
    a = endpoint_and_delivery(world_a, SECRET_A)
    b = endpoint_and_delivery(world_b, "secret-of-shop-b-0123456789")
    return a, b


@pytest.fixture
def staff_a(client, world_a):
    client.force_login(world_a.staff)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("index, model", [(0, WebhookEndpoint), (1, Delivery)])
def test_staff_see_only_their_tenants_rows(staff_a, rows, index, model):
    (a, b) = rows
    response = staff_a.get(url(model, "changelist"))
    assert {obj.pk for obj in response.context["cl"].result_list} == {a[index].pk}
    assert staff_a.get(url(model, "change", b[index].pk)).status_code == 302
    assert staff_a.get(url(model, "change", a[index].pk)).status_code == 200


@pytest.mark.django_db
def test_the_secret_is_never_shown(staff_a, rows):
    (endpoint, _), _ = rows
    page = staff_a.get(url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    assert SECRET_A not in page
    assert 'name="secret"' in page  # a field to type a new one


@pytest.mark.django_db
def test_a_blank_secret_keeps_the_current_one_and_a_new_one_replaces_it(staff_a, rows):
    (endpoint, _), _ = rows
    form = {"name": "Till", "url": "https://till.test/new", "secret": "", "events": ""}
    form["active"] = "on"
    assert staff_a.post(url(WebhookEndpoint, "change", endpoint.pk), form).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret == SECRET_A and endpoint.url == "https://till.test/new"
    form["secret"] = "a-brand-new-secret-value"
    staff_a.post(url(WebhookEndpoint, "change", endpoint.pk), form)
    endpoint.refresh_from_db()
    assert endpoint.secret == "a-brand-new-secret-value"


@pytest.mark.django_db
def test_a_new_endpoint_needs_a_secret(staff_a, world_a):
    form = {"name": "Till", "url": "https://till.test/", "secret": "", "active": "on"}
    response = staff_a.post(url(WebhookEndpoint, "add"), form)
    assert response.status_code == 200 and "The secret is required." in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("empty_queues")
def test_redeliver_queues_own_deliveries_only(
    staff_a,
    rows,
    django_capture_on_commit_callbacks,
):
    (_, mine), (_, theirs) = rows
    with django_capture_on_commit_callbacks(execute=True):
        staff_a.post(
            url(Delivery, "changelist"),
            {"action": "redeliver_now", "_selected_action": [mine.pk, theirs.pk]},
        )
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.status == DeliveryStatus.PENDING and mine.next_attempt_at is not None
    assert theirs.status == DeliveryStatus.FAILED

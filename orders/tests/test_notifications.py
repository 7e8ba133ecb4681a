"""An order's texts and webhooks: "received" on checkout and "ready" when staff mark it, each
sent once; the shop's systems told of the order and each status change; nothing at all when
the order's transaction rolls back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction

from orders.actions import LineDraft, change_status, place_order
from orders.models import Item, Menu, OrderStatus
from telephony.models import Text, TextStatus
from telephony.tests.fake_twilio import FakeTwilioRest, serving
from telephony.tests.test_texts import CUSTOMER, empty_queues, messages, run_jobs  # noqa: F401
from telephony.texts import send_text
from webhooks.models import Delivery, WebhookEndpoint


@pytest.fixture(scope="module")
def fake_twilio():
    with serving() as url:
        yield url


@pytest.fixture
def rest(settings, fake_twilio, empty_queues):  # noqa: F811
    settings.TWILIO_API_BASE_URL = fake_twilio
    FakeTwilioRest.requests.clear()
    FakeTwilioRest.replies.clear()
    return FakeTwilioRest.requests


@pytest.fixture
def latte(world_a):
    menu = Menu.objects.create(tenant=world_a.tenant, name="Drinks")
    return Item.objects.create(menu=menu, name="Latte", price=Decimal("4.50"))


@pytest.fixture
def shop_endpoint(world_a):
    return WebhookEndpoint.objects.create(
        tenant=world_a.tenant, url="http://127.0.0.1:9/orders", secret="s" * 24
    )


def checkout(world, item, quantity=2):
    order, _ = place_order(
        menu=item.menu,
        lines=[LineDraft(item_id=item.pk, quantity=quantity)],
        phone=CUSTOMER,
        call_id=world.call.pk,
    )
    return order


@pytest.mark.django_db
def test_checkout_texts_received_once_with_the_spaced_number_and_total(
    world_a, latte, rest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout(world_a, latte)
        checkout(world_a, latte)  # the same call checking out again: the same order
    run_jobs()
    (sent,) = messages(rest)
    assert sent["Body"] == [
        "Shop A: we have your order 1 0 1. Total $9.00. We'll text you when it's ready."
    ]
    assert sent["To"] == [CUSTOMER] and sent["From"] == [world_a.call.to_number]
    text = Text.objects.get(key=f"order-{order.pk}-received")
    assert text.status == TextStatus.QUEUED and text.tenant == world_a.tenant


@pytest.mark.django_db
def test_ready_is_texted_once_however_often_it_is_asked(
    world_a, latte, rest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout(world_a, latte)
    run_jobs()
    with django_capture_on_commit_callbacks(execute=True):
        change_status(order.pk, OrderStatus.IN_PROGRESS, by="staff")  # no text for this one
        change_status(order.pk, OrderStatus.READY, by="staff")
        change_status(order.pk, OrderStatus.READY, by="staff")  # a double click
    run_jobs()
    ready = Text.objects.get(key=f"order-{order.pk}-ready")
    send_text(ready.pk)  # the job again, twice, as stray workers would
    send_text(ready.pk)
    bodies = [m["Body"][0] for m in messages(rest)]
    assert len(bodies) == 2 and bodies[1] == "Shop A: your order 1 0 1 is ready for pickup."
    assert Text.objects.filter(tenant=world_a.tenant).count() == 2


@pytest.mark.django_db
def test_an_order_without_a_call_texts_from_the_tenants_number(
    world_a, latte, rest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order, _ = place_order(menu=latte.menu, lines=[LineDraft(item_id=latte.pk)], phone=CUSTOMER)
    text = Text.objects.get(key=f"order-{order.pk}-received")
    assert text.from_number == world_a.number.number


@pytest.mark.django_db
def test_the_shop_is_told_of_the_order_and_each_status_change(
    world_a, latte, shop_endpoint, rest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout(world_a, latte)
        change_status(order.pk, OrderStatus.READY, by="till")
        change_status(order.pk, OrderStatus.PICKED_UP, by="till")
    deliveries = list(Delivery.objects.order_by("pk"))
    assert [(d.event, d.key) for d in deliveries] == [
        ("order.created", f"order-{order.pk}-created"),
        ("order.status_changed", f"order-{order.pk}-ready"),
        ("order.status_changed", f"order-{order.pk}-picked_up"),
    ]
    created = deliveries[0].payload["order"]
    assert created["number"] == "101" and created["total"] == "9.00"
    assert created["status"] == "received" and created["previous_status"] is None
    assert created["lines"] == [
        {
            "name": "Latte",
            "quantity": 2,
            "unit_price": "4.50",
            "line_total": "9.00",
            "options": [],
        }
    ]
    ready = deliveries[1].payload["order"]
    assert ready["status"] == "ready" and ready["previous_status"] == "received"
    assert ready["changed_by"] == "till"


class Boom(Exception):
    pass


@pytest.mark.django_db
def test_nothing_is_sent_when_the_orders_transaction_rolls_back(
    world_a, latte, shop_endpoint, rest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            checkout(world_a, latte)
            raise Boom
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=True):
        order = checkout(world_a, latte)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            change_status(order.pk, OrderStatus.READY, by="staff")
            raise Boom
    assert callbacks == []
    run_jobs()
    # Only the committed checkout's: its "received" text and "created" delivery.
    assert list(Text.objects.values_list("key", flat=True)) == [f"order-{order.pk}-received"]
    assert list(Delivery.objects.values_list("key", flat=True)) == [f"order-{order.pk}-created"]
    assert len(messages(rest)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_checkout_on_a_real_transaction_sends_nothing(world_a, latte, rest):
    with pytest.raises(Boom), transaction.atomic():
        checkout(world_a, latte)
        raise Boom
    assert not Text.objects.exists() and not Delivery.objects.exists()
    assert run_jobs() == []
    # The same checkout committed: the text is written (the receivers are connected).
    checkout(world_a, latte)
    assert Text.objects.filter(status=TextStatus.PENDING).count() == 1

"""Placing an order and moving it through its statuses: prices read again at checkout, numbers
per tenant per day, moves only forward, events only after commit."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import transaction

from orders import actions
from orders.actions import LineDraft, OrderRefused, StatusRefused
from orders.models import Choice, Item, Menu, OptionGroup, Order, OrderStatus
from orders.numbers import business_date
from orders.signals import menu_changed, order_changed

pytestmark = pytest.mark.django_db


def small_menu(tenant) -> tuple[Menu, Item, Choice]:
    menu = Menu.objects.create(tenant=tenant, name="Drinks", max_items_per_order=3)
    tea = Item.objects.create(menu=menu, name="Taro milk tea", price=Decimal("5.50"))
    size = OptionGroup.objects.create(menu=menu, name="size", min_picks=1, max_picks=1)
    large = Choice.objects.create(group=size, name="large", price=Decimal("1.00"))
    tea.option_groups.add(size)
    return menu, tea, large


@pytest.fixture
def events():
    seen: list[dict] = []

    def receiver(sender, **kw):
        seen.append(kw)

    order_changed.connect(receiver)
    menu_changed.connect(receiver)
    yield seen
    order_changed.disconnect(receiver)
    menu_changed.disconnect(receiver)


def test_an_order_is_written_with_its_lines_prices_and_total(
    world_a, django_capture_on_commit_callbacks
):
    menu, tea, large = small_menu(world_a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        order, created = actions.place_order(
            menu=menu,
            lines=[LineDraft(tea.pk, [large.pk], 2), LineDraft(tea.pk)],
            phone="+14155550123",
            call_id=world_a.call.pk,
        )
    assert created and order.status == OrderStatus.RECEIVED
    assert order.total == Decimal("18.50")  # 2 x 6.50 + 5.50
    lines = list(order.lines.all())
    assert [(x.name, x.quantity, x.unit_price, x.line_total) for x in lines] == [
        ("Taro milk tea", 2, Decimal("6.50"), Decimal("13.00")),
        ("Taro milk tea", 1, Decimal("5.50"), Decimal("5.50")),
    ]
    assert lines[0].options == [{"group": "size", "choice": "large", "price": "1.00"}]
    assert order.call_id == world_a.call.pk
    assert order.business_date == business_date(world_a.tenant)
    assert order.number == "101" and order.spoken_number == "1 0 1"


def test_a_repeated_checkout_in_the_same_call_gets_the_first_order(world_a):
    menu, tea, _ = small_menu(world_a.tenant)
    first, created = actions.place_order(
        menu=menu, lines=[LineDraft(tea.pk)], phone="+1", call_id=world_a.call.pk
    )
    again, created_again = actions.place_order(
        menu=menu, lines=[LineDraft(tea.pk), LineDraft(tea.pk)], phone="+1", call_id=world_a.call.pk
    )
    assert created and not created_again and again.pk == first.pk
    assert Order.objects.count() == 1


def test_numbers_go_up_per_tenant_and_start_again_for_another_tenant(world_a, world_b):
    menu_a, tea_a, _ = small_menu(world_a.tenant)
    menu_b, tea_b, _ = small_menu(world_b.tenant)
    numbers_a = [
        actions.place_order(menu=menu_a, lines=[LineDraft(tea_a.pk)], phone="+1")[0].number
        for _ in range(3)
    ]
    number_b = actions.place_order(menu=menu_b, lines=[LineDraft(tea_b.pk)], phone="+1")[0].number
    assert numbers_a == ["101", "102", "103"] and number_b == "101"


def test_the_business_day_is_the_tenants_local_date(world_a):
    world_a.tenant.time_zone = "America/Los_Angeles"
    world_a.tenant.save()
    late_evening_there = datetime.datetime(2026, 12, 1, 6, 30, tzinfo=datetime.UTC)
    assert business_date(world_a.tenant, late_evening_there) == datetime.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("lines", "reason"),
    [([], "empty_cart"), ([LineDraft(0, [], 2), LineDraft(0, [], 2)], "too_many_items")],
)
def test_checkout_refuses_an_empty_or_oversized_cart(world_a, lines, reason):
    menu, tea, _ = small_menu(world_a.tenant)
    lines = [LineDraft(tea.pk, [], line.quantity) for line in lines]
    with pytest.raises(OrderRefused) as refused:
        actions.place_order(menu=menu, lines=lines, phone="+1")
    assert refused.value.reason == reason
    assert not Order.objects.exists()


def test_an_item_or_choice_sold_out_since_it_was_confirmed_is_named_and_nothing_written(world_a):
    menu, tea, large = small_menu(world_a.tenant)
    actions.set_availability(large, False)
    with pytest.raises(OrderRefused) as refused:
        actions.place_order(menu=menu, lines=[LineDraft(tea.pk, [large.pk])], phone="+1")
    assert refused.value.reason == "sold_out" and "large" in refused.value.message
    assert refused.value.data["unavailable"] == ["large"]
    assert not Order.objects.exists()


def test_another_menus_item_cannot_be_ordered(world_a, world_b):
    menu_a, _, _ = small_menu(world_a.tenant)
    _, tea_b, _ = small_menu(world_b.tenant)
    with pytest.raises(OrderRefused):
        actions.place_order(menu=menu_a, lines=[LineDraft(tea_b.pk)], phone="+1")


def test_statuses_move_forward_with_their_times_and_never_back(
    world_a, events, django_capture_on_commit_callbacks
):
    menu, tea, _ = small_menu(world_a.tenant)
    order, _ = actions.place_order(menu=menu, lines=[LineDraft(tea.pk)], phone="+1")
    with django_capture_on_commit_callbacks(execute=True):
        actions.change_status(order.pk, OrderStatus.IN_PROGRESS, by="staff_a")
        actions.change_status(order.pk, OrderStatus.READY, by="staff_a")
        actions.change_status(order.pk, OrderStatus.READY, by="staff_a")  # a double click
    order.refresh_from_db()
    assert order.status == OrderStatus.READY and order.started_at <= order.ready_at
    assert [(e["previous"], e["status"]) for e in events] == [
        ("received", "in_progress"),
        ("in_progress", "ready"),
    ]
    with pytest.raises(StatusRefused, match="cannot become in progress"):
        actions.change_status(order.pk, OrderStatus.IN_PROGRESS)
    actions.change_status(order.pk, OrderStatus.PICKED_UP)
    with pytest.raises(StatusRefused):
        actions.change_status(order.pk, OrderStatus.CANCELLED)


@pytest.mark.django_db(transaction=True)
def test_no_event_when_the_change_is_rolled_back(world_a, events):
    menu, tea, _ = small_menu(world_a.tenant)
    order, _ = actions.place_order(menu=menu, lines=[LineDraft(tea.pk)], phone="+1")
    assert [e["status"] for e in events] == ["received"]  # placed, committed, announced
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.change_status(order.pk, OrderStatus.CANCELLED)
        raise RuntimeError("the caller's request failed after the change")
    order.refresh_from_db()
    assert order.status == OrderStatus.RECEIVED and len(events) == 1


def test_sold_out_is_announced_on_commit(world_a, events, django_capture_on_commit_callbacks):
    menu, tea, _ = small_menu(world_a.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        actions.set_availability(tea, False)
    tea.refresh_from_db()
    assert not tea.available
    assert events == [{"signal": menu_changed, "tenant_id": world_a.tenant.pk, "menu_id": menu.pk}]

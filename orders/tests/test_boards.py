"""The live boards' socket: who may open it, the state it sends, and the changes it passes on
(sent on commit, never for a rolled-back change, never to another tenant's boards)."""

from __future__ import annotations

import datetime
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.utils import timezone

from orders.actions import LineDraft, change_status, place_order, set_availability
from orders.boards import mask_phone
from orders.models import Category, Choice, Item, Menu, OptionGroup, Order
from voiceapp.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "https://voice.example.test"  # PUBLIC_BASE_URL's host is an allowed host
QUIET = 0.5  # seconds a socket must stay silent to show nothing was sent


# -- helpers shared with the views' and the browser's tests


def make_menu(tenant) -> Menu:
    """A one-drink menu: a latte (4.00) with a size (large +1.00)."""
    menu = Menu.objects.create(tenant=tenant, name=f"Drinks {tenant.slug}")
    category = Category.objects.create(menu=menu, name="Coffee")
    size = OptionGroup.objects.create(menu=menu, name="Size", min_picks=0, max_picks=1)
    Choice.objects.create(group=size, name="Large", price=Decimal("1.00"))
    item = Item.objects.create(menu=menu, category=category, name="Latte", price=Decimal("4.00"))
    item.option_groups.add(size)
    return menu


def place(menu: Menu, phone: str = "+14155550123", quantity: int = 1) -> Order:
    """An order of `quantity` large lattes from `menu`."""
    item = menu.items.get(name="Latte")
    large = Choice.objects.get(group__menu=menu, name="Large")
    order, _ = place_order(
        menu=menu,
        lines=[LineDraft(item_id=item.pk, choice_ids=[large.pk], quantity=quantity)],
        phone=phone,
    )
    return order


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@asynccontextmanager
async def board_socket(user, slug: str, *, origin: str = ORIGIN):
    """A connected board socket for `user` (None: anonymous); always disconnected after."""
    headers = [(b"origin", origin.encode())] if origin else []
    if user is not None:
        cookie = await database_sync_to_async(session_cookie)(user)
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/orders/{slug}/", headers=headers
    )
    connected, code = await communicator.connect()
    try:
        yield communicator, connected, code
    finally:
        await communicator.disconnect()


@pytest.fixture
def menu_a(world_a) -> Menu:
    return make_menu(world_a.tenant)


@pytest.fixture
def menu_b(world_b) -> Menu:
    return make_menu(world_b.tenant)


# -- who may connect


async def test_staff_receive_the_open_orders_when_they_connect(world_a, menu_a, menu_b):
    order = await database_sync_to_async(place)(menu_a, quantity=2)
    await database_sync_to_async(place)(menu_b)  # another tenant's: never shown here
    async with board_socket(world_a.staff, "a") as (socket, connected, _):
        assert connected
        state = await socket.receive_json_from()
    assert state["type"] == "snapshot"
    assert state["sold_out"] == []
    [shown] = state["orders"]
    assert shown["id"] == order.pk and shown["number"] == order.number
    assert shown["status"] == "received" and shown["open"] is True
    assert shown["phone"] == "+•••••••0123"
    assert shown["lines"] == [
        {"quantity": 2, "name": "Latte", "options": ["Large"], "total": "10.00"}
    ]
    assert shown["total"] == "10.00 USD"
    assert [s["status"] for s in shown["steps"]] == ["received"]
    assert [a["status"] for a in shown["actions"]] == ["in_progress", "ready", "cancelled"]


@pytest.mark.parametrize("who", ["other_tenant_staff", "outsider", "anonymous"])
async def test_others_cannot_open_the_socket(world_a, world_b, outsider, who):
    user = {"other_tenant_staff": world_b.staff, "outsider": outsider, "anonymous": None}[who]
    async with board_socket(user, "a") as (_, connected, _):
        assert not connected
    # Nor can a tenant's staff reach a board of a tenant that does not exist.
    async with board_socket(world_a.staff, "no-such-shop") as (_, connected, _):
        assert not connected


async def test_a_superuser_may_watch_any_tenant(world_a):
    boss = await database_sync_to_async(get_user_model().objects.create_superuser)(
        "boss", password="pw-for-tests"
    )
    async with board_socket(boss, "a") as (socket, connected, _):
        assert connected
        assert (await socket.receive_json_from())["type"] == "snapshot"


async def test_a_page_of_another_site_cannot_open_the_socket(world_a):
    # The staff's cookie rides along with any page's request: the Origin is what tells.
    async with board_socket(world_a.staff, "a", origin="https://evil.example.com") as (
        _,
        connected,
        _,
    ):
        assert not connected
    async with board_socket(world_a.staff, "a", origin="") as (_, connected, _):
        assert not connected


# -- what it passes on


async def test_a_status_change_reaches_the_board_once_committed(world_a, menu_a):
    order = await database_sync_to_async(place)(menu_a)
    async with board_socket(world_a.staff, "a") as (socket, _, _):
        await socket.receive_json_from()  # the snapshot
        await database_sync_to_async(change_status)(order.pk, "in_progress", by="staff_a")
        message = await socket.receive_json_from(timeout=2)
        assert message["type"] == "order"
        assert message["order"]["id"] == order.pk
        assert message["order"]["status"] == "in_progress"
        assert [s["status"] for s in message["order"]["steps"]] == ["received", "in_progress"]
        assert [a["status"] for a in message["order"]["actions"]] == ["ready", "cancelled"]
        await database_sync_to_async(change_status)(order.pk, "ready", by="staff_a")
        assert (await socket.receive_json_from(timeout=2))["order"]["status"] == "ready"
        await database_sync_to_async(change_status)(order.pk, "picked_up", by="staff_a")
        gone = (await socket.receive_json_from(timeout=2))["order"]
        assert gone["status"] == "picked_up" and gone["open"] is False and gone["actions"] == []


async def test_no_event_when_the_change_rolls_back(world_a, menu_a):
    order = await database_sync_to_async(place)(menu_a)

    def change_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            change_status(order.pk, "ready", by="staff_a")
            raise RuntimeError("the rest of the request failed")

    async with board_socket(world_a.staff, "a") as (socket, _, _):
        await socket.receive_json_from()
        await database_sync_to_async(change_then_fail)()
        assert await socket.receive_nothing(timeout=QUIET)
    order = await Order.objects.aget(pk=order.pk)
    assert order.status == "received"


async def test_a_new_order_appears(world_a, menu_a):
    async with board_socket(world_a.staff, "a") as (socket, _, _):
        assert (await socket.receive_json_from())["orders"] == []
        order = await database_sync_to_async(place)(menu_a)
        message = await socket.receive_json_from(timeout=2)
    assert message["order"]["number"] == order.number and message["order"]["status"] == "received"


async def test_another_tenants_changes_never_reach_the_board(world_a, world_b, menu_a, menu_b):
    async with (
        board_socket(world_a.staff, "a") as (socket_a, _, _),
        board_socket(world_b.staff, "b") as (socket_b, _, _),
    ):
        await socket_a.receive_json_from()
        assert (await socket_b.receive_json_from())["orders"] == []
        order = await database_sync_to_async(place)(menu_a)
        await database_sync_to_async(change_status)(order.pk, "ready", by="staff_a")
        assert (await socket_a.receive_json_from(timeout=2))["order"]["id"] == order.pk
        assert await socket_b.receive_nothing(timeout=QUIET)


async def test_sold_out_items_reach_the_console(world_a, menu_a):
    latte = await Item.objects.aget(menu=menu_a, name="Latte")
    async with board_socket(world_a.staff, "a") as (socket, _, _):
        await socket.receive_json_from()
        await database_sync_to_async(set_availability)(latte, False)
        assert await socket.receive_json_from(timeout=2) == {
            "type": "sold_out",
            "sold_out": ["Latte"],
        }
        large = await Choice.objects.select_related("group").aget(group__menu=menu_a)
        await database_sync_to_async(set_availability)(large, False)
        message = await socket.receive_json_from(timeout=2)
        assert message["sold_out"] == ["Large (Size)", "Latte"]


async def test_a_client_may_ask_for_the_whole_state_again(world_a, menu_a):
    async with board_socket(world_a.staff, "a") as (socket, _, _):
        assert (await socket.receive_json_from())["orders"] == []
        # Written without the action, so no event: only a resync can show it.
        order = await database_sync_to_async(place)(menu_a)
        await socket.receive_json_from(timeout=2)  # the event of place()
        await Order.objects.filter(pk=order.pk).aupdate(status="ready")
        assert await socket.receive_nothing(timeout=QUIET)
        await socket.send_json_to({"type": "resync"})
        state = await socket.receive_json_from(timeout=2)
    assert state["type"] == "snapshot"
    assert [(o["id"], o["status"]) for o in state["orders"]] == [(order.pk, "ready")]


async def test_the_console_keeps_recently_finished_orders_in_view(world_a, menu_a):
    def orders() -> tuple[Order, Order, Order]:
        done, old, waiting = place(menu_a), place(menu_a), place(menu_a)
        change_status(done.pk, "cancelled", by="staff_a")
        change_status(old.pk, "cancelled", by="staff_a")
        Order.objects.filter(pk=old.pk).update(
            cancelled_at=timezone.now() - datetime.timedelta(hours=13)
        )
        return done, old, waiting

    done, _, waiting = await database_sync_to_async(orders)()
    async with board_socket(world_a.staff, "a") as (socket, _, _):
        state = await socket.receive_json_from()
    assert [(o["id"], o["open"]) for o in state["orders"]] == [
        (waiting.pk, True),
        (done.pk, False),
    ]


def test_phones_are_masked_but_the_last_four_digits():
    assert mask_phone("+14155550123") == "+•••••••0123"
    assert mask_phone("0123") == "0123"
    assert mask_phone("") == ""

"""The live order boards: who may watch a tenant's orders, what a board is told, and the socket.

Two pages share one socket (`ws/orders/<tenant slug>/`): the shop-screen board (numbers by
status) and the staff console (full details and buttons). On connect the socket sends the
current state read from the database (`snapshot`); after that, each change of the tenant's
orders reaches the consumer through the channel layer group `orders.tenant.<id>` (see
orders.board_events) and the consumer sends the order as it now is in the database. Events
carry ids only, so a late, repeated or reordered event can never show a stale order.
"""

from __future__ import annotations

import datetime

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db.models import Q
from django.utils import timezone

from orders.models import NEXT_STATUSES, STATUS_TIME_FIELD, Choice, Item, Order, OrderStatus
from voiceapp.models import Tenant
from voiceapp.tenancy import tenant_ids

# The console keeps finished orders in view this long, so a mistaken cancel is still visible.
RECENTLY_DONE = datetime.timedelta(hours=12)
RECENTLY_DONE_LIMIT = 20
OPEN_LIMIT = 200  # more open orders than a screen can show is a stuck queue, not a board
OPEN_STATUSES = (OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS, OrderStatus.READY)
# The console's buttons, in the order they are shown.
ACTIONS = {
    OrderStatus.IN_PROGRESS: "Start",
    OrderStatus.READY: "Ready",
    OrderStatus.PICKED_UP: "Picked up",
    OrderStatus.CANCELLED: "Cancel",
}


def group_name(tenant_id: int) -> str:
    """The channel layer group every board of `tenant_id` listens on."""
    return f"orders.tenant.{tenant_id}"


def staff_tenant(user, slug: str) -> Tenant | None:
    """The active tenant `slug` if `user` is its staff (a member, or a superuser), else None:
    the pages answer 404 and the socket is refused, so another tenant's slug tells nothing."""
    ids = tenant_ids(user)
    tenants = Tenant.objects.filter(slug=slug, active=True)
    if ids is not None:
        tenants = tenants.filter(pk__in=ids)
    return tenants.first()


def mask_phone(phone: str) -> str:
    """Every digit but the last four hidden: "+14155550123" -> "+•••••••0123"."""
    digits = sum(c.isdigit() for c in phone)
    hidden, out = max(digits - 4, 0), []
    for c in phone:
        if c.isdigit() and hidden:
            out.append("•")
            hidden -= 1
        else:
            out.append(c)
    return "".join(out)


def order_state(order: Order) -> dict:
    """What a board and the console show of `order` (its lines prefetched or not)."""
    zone = order.tenant.zone
    steps = []
    for status, field in STATUS_TIME_FIELD.items():
        at = getattr(order, field)
        if at is not None:
            steps.append(
                {
                    "status": status,
                    "label": OrderStatus(status).label,
                    "at": at.isoformat(),
                    "local": at.astimezone(zone).strftime("%H:%M"),
                }
            )
    steps.sort(key=lambda s: s["at"])
    return {
        "id": order.pk,
        "number": order.number,
        "status": order.status,
        "status_label": order.get_status_display(),
        "open": order.is_open,
        "phone": mask_phone(order.phone),
        "placed": order.created_at.astimezone(zone).strftime("%H:%M"),
        "total": f"{order.total} {order.currency}",
        "lines": [
            {
                "quantity": line.quantity,
                "name": line.name,
                "options": [o["choice"] for o in line.options],
                "total": str(line.line_total),
            }
            for line in order.lines.all()
        ],
        "steps": steps,
        "actions": [
            {"status": status, "label": label}
            for status, label in ACTIONS.items()
            if status in NEXT_STATUSES[order.status]
        ],
    }


def _orders(tenant: Tenant):
    return Order.objects.filter(tenant=tenant).select_related("tenant").prefetch_related("lines")


def order_for_board(tenant: Tenant, order_id: int) -> dict | None:
    order = _orders(tenant).filter(pk=order_id).first()
    return order_state(order) if order is not None else None


def snapshot(tenant: Tenant) -> dict:
    """The whole state of `tenant`'s boards: open orders (oldest first) and recently done ones."""
    open_orders = _orders(tenant).filter(status__in=OPEN_STATUSES).order_by("created_at")
    since = timezone.now() - RECENTLY_DONE
    done = (
        _orders(tenant)
        .exclude(status__in=OPEN_STATUSES)
        .filter(Q(picked_up_at__gte=since) | Q(cancelled_at__gte=since))
        .order_by("-updated_at")
    )
    return {
        "type": "snapshot",
        "orders": [order_state(o) for o in open_orders[:OPEN_LIMIT]]
        + [order_state(o) for o in done[:RECENTLY_DONE_LIMIT]],
        "sold_out": sold_out(tenant),
    }


def sold_out(tenant: Tenant) -> list[str]:
    """What the tenant's active menus have marked unavailable, for the console's strip."""
    items = Item.objects.filter(menu__tenant=tenant, menu__active=True, available=False)
    choices = Choice.objects.filter(
        group__menu__tenant=tenant, group__menu__active=True, available=False
    ).select_related("group")
    return sorted({i.name for i in items} | {f"{c.name} ({c.group.name})" for c in choices})


class BoardConsumer(AsyncJsonWebsocketConsumer):
    """A board's socket: staff only, read-only (changes go through the console's endpoint)."""

    tenant: Tenant | None = None

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        self.tenant = await database_sync_to_async(staff_tenant)(self.scope.get("user"), slug)
        if self.tenant is None:
            await self.close()  # before accept: the handshake is refused (403)
            return
        # Joined before the snapshot is read: a change committed in between is sent after it.
        await self.channel_layer.group_add(group_name(self.tenant.pk), self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(snapshot)(self.tenant))

    async def disconnect(self, code: int) -> None:
        if self.tenant is not None:
            await self.channel_layer.group_discard(group_name(self.tenant.pk), self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # A client that suspects it missed something (a tab woken from sleep) asks again.
        if isinstance(content, dict) and content.get("type") == "resync":
            await self.send_json(await database_sync_to_async(snapshot)(self.tenant))

    async def order_changed(self, event: dict) -> None:
        state = await database_sync_to_async(order_for_board)(self.tenant, event["order_id"])
        if state is not None:
            await self.send_json({"type": "order", "order": state})

    async def menu_changed(self, event: dict) -> None:
        names = await database_sync_to_async(sold_out)(self.tenant)
        await self.send_json({"type": "sold_out", "sold_out": names})

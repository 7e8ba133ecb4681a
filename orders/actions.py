"""Actions on orders: placing one at checkout and moving it through its statuses.

Each is atomic and is the one way its change is made (the agent's checkout tool, the staff
console, the admin and the API all call these). `orders.signals.order_changed` is sent once the
transaction commits; texts, the shop's webhook and the live boards hang off it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.models import STATUS_TIME_FIELD, Choice, Item, Menu, Order, OrderLine, OrderStatus
from orders.numbers import business_date, next_number
from orders.signals import menu_changed, order_changed

log = logging.getLogger(__name__)


@dataclass
class LineDraft:
    """A confirmed cart line as checkout receives it: ids only; prices are read again."""

    item_id: int
    choice_ids: list[int] = field(default_factory=list)
    quantity: int = 1


class OrderRefused(Exception):
    """Checkout cannot go ahead; `reason` is a short code and `message` can be said aloud."""

    def __init__(self, reason: str, message: str, **data) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.data = data


class StatusRefused(Exception):
    pass


def _announce(order: Order, previous: str | None, by: str) -> None:
    transaction.on_commit(
        lambda: order_changed.send(
            sender=Order,
            order_id=order.pk,
            tenant_id=order.tenant_id,
            status=order.status,
            previous=previous,
            by=by,
        )
    )


def place_order(
    *, menu: Menu, lines: list[LineDraft], phone: str, call_id: int | None = None
) -> tuple[Order, bool]:
    """Write the order for `lines` (prices and availability read again, under lock), with a
    number unique for the tenant that day. Returns (order, created): a checkout repeated in the
    same call gets its first order back, never a second one. Raises OrderRefused when the cart
    is empty, too big, or holds something sold out since it was confirmed."""
    if call_id is not None:
        existing = Order.objects.filter(call_id=call_id).first()
        if existing is not None:
            return existing, False
    if not lines:
        raise OrderRefused("empty_cart", "The cart is empty.")
    count = sum(line.quantity for line in lines)
    if count > menu.max_items_per_order:
        raise OrderRefused(
            "too_many_items",
            f"An order can have at most {menu.max_items_per_order} items; this one has {count}.",
            limit=menu.max_items_per_order,
        )
    try:
        with transaction.atomic():
            return _write(menu, lines, phone, call_id), True
    except IntegrityError:
        if call_id is not None:  # the same checkout, twice at once: the first one won
            existing = Order.objects.filter(call_id=call_id).first()
            if existing is not None:
                return existing, False
        raise


def _write(menu: Menu, lines: list[LineDraft], phone: str, call_id: int | None) -> Order:
    item_ids = {line.item_id for line in lines}
    choice_ids = {c for line in lines for c in line.choice_ids}
    # Locked for the final check: an item marked sold out now waits for this order, or wins.
    items = {i.pk: i for i in Item.objects.select_for_update().filter(menu=menu, pk__in=item_ids)}
    choices = {
        c.pk: c
        for c in Choice.objects.select_related("group").filter(group__menu=menu, pk__in=choice_ids)
    }
    gone = sorted(
        {items[i].name for i in item_ids if i in items and not items[i].available}
        | {choices[c].name for c in choice_ids if c in choices and not choices[c].available}
        | {f"item #{i}" for i in item_ids if i not in items}
        | {f"choice #{c}" for c in choice_ids if c not in choices}
    )
    if gone:
        raise OrderRefused(
            "sold_out", f"Sorry, {_join(gone)} just sold out.", unavailable=list(gone)
        )
    tenant = menu.tenant
    now = timezone.now()
    day = business_date(tenant, now)
    order = Order(
        tenant=tenant,
        menu=menu,
        call_id=call_id,
        number=next_number(tenant, day),
        business_date=day,
        phone=phone,
        total=Decimal("0"),
        currency=menu.currency,
        created_at=now,
    )
    order.save()
    total = Decimal("0")
    rows = []
    for position, line in enumerate(lines):
        item = items[line.item_id]
        picked = [choices[c] for c in line.choice_ids]
        unit = item.price + sum((c.price for c in picked), Decimal("0"))
        line_total = unit * line.quantity
        total += line_total
        rows.append(
            OrderLine(
                order=order,
                item=item,
                name=item.name,
                quantity=line.quantity,
                unit_price=unit,
                line_total=line_total,
                options=[
                    {"group": c.group.name, "choice": c.name, "price": str(c.price)} for c in picked
                ],
                position=position,
            )
        )
    OrderLine.objects.bulk_create(rows)
    order.total = total
    order.save(update_fields=["total"])
    _announce(order, None, "call" if call_id else "api")
    log.info("order %s placed", order.number, extra={"order_id": order.pk, "call_id": call_id})
    return order


def change_status(order_id: int, status: str, *, by: str = "") -> Order:
    """Move an order to `status` and stamp the time. Refuses a move its status does not allow
    (StatusRefused), so a double click or a stale screen cannot move it backwards. Asking for
    the status it already has is a no-op (no event)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == status:
            return order
        if not order.may_become(status):
            raise StatusRefused(
                f"Order {order.number} is {order.get_status_display().lower()}; "
                f"it cannot become {OrderStatus(status).label.lower()}."
            )
        previous = order.status
        order.status = status
        stamp = STATUS_TIME_FIELD[status]
        setattr(order, stamp, timezone.now())
        order.save(update_fields=["status", stamp, "updated_at"])
        _announce(order, previous, by)
    return order


def set_availability(obj: Item | Choice, available: bool) -> None:
    """Mark an item or a choice sold out (or back on). The agent's tools read availability
    live, so the next question hears it; `menu_changed` tells the boards on commit."""
    with transaction.atomic():
        type(obj).objects.filter(pk=obj.pk).update(available=available)
        obj.available = available
        menu_id = obj.menu_id if isinstance(obj, Item) else obj.group.menu_id
        tenant_id = Menu.objects.values_list("tenant_id", flat=True).get(pk=menu_id)
        transaction.on_commit(
            lambda: menu_changed.send(sender=Menu, tenant_id=tenant_id, menu_id=menu_id)
        )


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]

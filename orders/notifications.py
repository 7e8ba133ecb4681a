"""What happens outside when an order changes: a text to the customer (received, ready) and
a webhook to the shop's systems (created, each status change). Receivers of
`orders.signals.order_changed`, which is sent once the order's transaction commits; each writes
its text or delivery (once per key) and leaves the sending to jobs."""

from __future__ import annotations

from django.dispatch import receiver

from orders.models import Order, OrderStatus
from orders.signals import order_changed
from telephony.texts import queue_text
from webhooks.delivery import deliver

CURRENCY_SIGNS = {"USD": "$", "CAD": "$", "AUD": "$", "GBP": "£", "EUR": "€"}


def money(amount, currency: str) -> str:
    sign = CURRENCY_SIGNS.get(currency)
    return f"{sign}{amount:.2f}" if sign else f"{amount:.2f} {currency}"


def received_text(order: Order) -> str:
    # The number spaced digit by digit, as the agent read it out: "1 0 4".
    return (
        f"{order.tenant.name}: we have your order {order.spoken_number}. "
        f"Total {money(order.total, order.currency)}. We'll text you when it's ready."
    )


def ready_text(order: Order) -> str:
    return f"{order.tenant.name}: your order {order.spoken_number} is ready for pickup."


TEXTS = {OrderStatus.RECEIVED: received_text, OrderStatus.READY: ready_text}


@receiver(order_changed, dispatch_uid="orders.notifications.text_customer")
def text_customer(sender, *, order_id: int, status: str, previous: str | None, **_) -> None:
    compose = TEXTS.get(status)
    if compose is None or (status == OrderStatus.RECEIVED and previous is not None):
        return
    order = Order.objects.select_related("tenant", "call").get(pk=order_id)
    if not order.phone:
        return  # a caller with a hidden number: nobody to text
    queue_text(
        tenant_id=order.tenant_id,
        to=order.phone,
        body=compose(order),
        key=f"order-{order.pk}-{status}",
        from_number=order.call.to_number if order.call else "",
    )


@receiver(order_changed, dispatch_uid="orders.notifications.tell_the_shop")
def tell_the_shop(
    sender, *, order_id: int, status: str, previous: str | None, by: str = "", **_
) -> None:
    order = Order.objects.prefetch_related("lines").get(pk=order_id)
    event = "order.created" if previous is None else "order.status_changed"
    deliver(
        order.tenant_id,
        event,
        order_payload(order, status=status, previous=previous, by=by),
        key=f"order-{order.pk}-{'created' if previous is None else status}",
    )


def order_payload(order: Order, *, status: str, previous: str | None, by: str) -> dict:
    """The order as the shop's systems receive it. `status` is the one this event announces
    (the order may have moved on by the time a delayed receiver reads it)."""
    return {
        "order": {
            "id": order.pk,
            "number": order.number,
            "business_date": order.business_date.isoformat(),
            "status": status,
            "previous_status": previous,
            "changed_by": by,
            "phone": order.phone,
            "total": str(order.total),
            "currency": order.currency,
            "call_id": order.call_id,
            "created_at": order.created_at.isoformat(),
            "lines": [
                {
                    "name": line.name,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                    "line_total": str(line.line_total),
                    "options": line.options,
                }
                for line in order.lines.all()
            ],
        }
    }

"""Tell every open board of a tenant that its orders or its menu changed.

The signals are sent on commit (orders.actions), from whichever process made the change: a
call's checkout in a web process, a status click, an rq job, a shell. `group_send` through the
channel layer (Redis in production) reaches the boards' consumers in every web process. The
message carries ids only: each consumer reads the current state from the database.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.dispatch import receiver
from redis.exceptions import RedisError

from orders.boards import group_name
from orders.signals import menu_changed, order_changed

log = logging.getLogger(__name__)


def _push(tenant_id: int, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group_name(tenant_id), message)
    except (OSError, RedisError):
        # The change is committed and the request that made it must not fail for a screen:
        # the boards resync from the database when their socket reconnects.
        log.exception("live boards not told of a change", extra={"tenant_id": tenant_id})


@receiver(order_changed, dispatch_uid="orders.board_events.order_changed")
def order_changed_to_boards(sender, *, order_id: int, tenant_id: int, **kwargs) -> None:
    _push(tenant_id, {"type": "order.changed", "order_id": order_id})


@receiver(menu_changed, dispatch_uid="orders.board_events.menu_changed")
def menu_changed_to_boards(sender, *, tenant_id: int, menu_id: int, **kwargs) -> None:
    _push(tenant_id, {"type": "menu.changed", "menu_id": menu_id})

"""Signals other parts react to (texts, the shop's webhook, the live boards). Sent on commit."""

from __future__ import annotations

from django.dispatch import Signal

# An order was placed or changed status. Sent once per change, after the transaction commits,
# with `order_id`, `tenant_id`, `status`, `previous` (None when the order was just placed) and
# `by` (who made the change: "call", a user name, "api").
order_changed = Signal()

# An item's or a choice's availability changed (sold out, back on). Sent on commit with
# `tenant_id` and `menu_id`.
menu_changed = Signal()

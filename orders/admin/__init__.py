"""The orders app in the admin: menus and their parts (menus.py), orders and abandoned carts
(orders.py)."""

from orders.admin import menus, orders  # noqa: F401 (registers the admins)

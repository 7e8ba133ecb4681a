"""A shop's menu and the orders callers place from it.

A Menu belongs to a tenant and is served by the ordering agents linked to it. Items sit in
categories and take options from option groups (size, toppings, sweetness), each with its
choices, prices, pick limits and defaults; rules tie choices together ("matcha stencil requires
vanilla cream"). Aliases are what callers say for a name ("cream"). Availability is read live
by the agent's tools, so an item marked sold out is refused on the next question.

An Order is written once, at checkout, with its lines (each a snapshot of the item's name, the
chosen options and prices at the time) and moves received → in progress → ready → picked up,
or to cancelled, with the time of each step.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from voiceapp.models import Tenant, TenantOwned

MONEY = {"max_digits": 8, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


def split_aliases(text: str) -> list[str]:
    return [a.strip() for a in (text or "").split(",") if a.strip()]


class Menu(TenantOwned):
    name = models.CharField(max_length=120)
    agents = models.ManyToManyField(
        "calls.Agent",
        blank=True,
        related_name="menus",
        help_text="The ordering agents that take orders from this menu (one menu per agent).",
    )
    max_items_per_order = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Drinks (items) per order."
    )
    currency = models.CharField(max_length=3, default="USD")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="menu_name_per_tenant")
        ]

    def __str__(self) -> str:
        return self.name

    def is_open(self, at: datetime.datetime | None = None) -> bool:
        """Whether `at` (now by default) falls in the opening hours, in the tenant's time zone.
        A menu with no hours set is always open."""
        hours = list(self.hours.all())
        if not hours:
            return True
        local = (at or timezone.now()).astimezone(self.tenant.zone)
        return any(h.covers(local) for h in hours)

    def hours_text(self) -> str:
        days = dict(OpeningHours.Weekday.choices)
        return "; ".join(
            f"{days[h.weekday]} {h.opens:%H:%M}-{h.closes:%H:%M}" for h in self.hours.all()
        )


class OpeningHours(models.Model):
    """One opening stretch on one weekday, in the tenant's local time. `closes` before `opens`
    runs past midnight."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    tenant_path = "menu__tenant"
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="hours")
    weekday = models.IntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]
        verbose_name_plural = "opening hours"

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def clean(self) -> None:
        if self.opens == self.closes:
            raise ValidationError("Opening and closing times must differ.")

    def covers(self, local: datetime.datetime) -> bool:
        t = local.time()
        if self.opens < self.closes:
            return local.weekday() == self.weekday and self.opens <= t < self.closes
        # past midnight: the evening of `weekday` and the early hours of the next day
        if local.weekday() == self.weekday and t >= self.opens:
            return True
        return local.weekday() == (self.weekday + 1) % 7 and t < self.closes


class Category(models.Model):
    tenant_path = "menu__tenant"
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=80)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class OptionGroup(models.Model):
    """A question asked of an item: size (pick exactly one), toppings (pick up to three)."""

    tenant_path = "menu__tenant"
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="option_groups")
    name = models.CharField(max_length=80)
    min_picks = models.PositiveIntegerField(default=0)
    max_picks = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["menu", "name"], name="option_group_name_per_menu")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.max_picks and self.min_picks > self.max_picks:
            raise ValidationError("Minimum picks cannot exceed maximum picks.")


class Choice(models.Model):
    tenant_path = "group__menu__tenant"
    group = models.ForeignKey(OptionGroup, on_delete=models.CASCADE, related_name="choices")
    name = models.CharField(max_length=80)
    price = models.DecimalField(default=Decimal("0"), **MONEY)
    is_default = models.BooleanField(
        default=False, help_text="Picked when the caller does not say otherwise."
    )
    available = models.BooleanField(default=True)
    aliases = models.CharField(
        max_length=300, blank=True, help_text="Other words callers use, comma-separated."
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="choice_name_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.group.name}: {self.name}"

    @property
    def alias_list(self) -> list[str]:
        return split_aliases(self.aliases)


class ChoiceRule(models.Model):
    """`choice` requires (or excludes) `other` on the same item."""

    class Kind(models.TextChoices):
        REQUIRES = "requires", "requires"
        EXCLUDES = "excludes", "cannot go with"

    tenant_path = "menu__tenant"
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="rules")
    choice = models.ForeignKey(Choice, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REQUIRES)
    other = models.ForeignKey(Choice, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.choice.name} {self.get_kind_display()} {self.other.name}"

    def clean(self) -> None:
        if self.choice_id and self.other_id and self.choice_id == self.other_id:
            raise ValidationError("A choice cannot have a rule with itself.")
        for c in (getattr(self, "choice", None), getattr(self, "other", None)):
            if c is not None and self.menu_id and c.group.menu_id != self.menu_id:
                raise ValidationError(f"{c} is not on this menu.")


class Item(models.Model):
    tenant_path = "menu__tenant"
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="items")
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    price = models.DecimalField(**MONEY)
    available = models.BooleanField(default=True, help_text="Untick when sold out.")
    aliases = models.CharField(
        max_length=300, blank=True, help_text="Other words callers use, comma-separated."
    )
    option_groups = models.ManyToManyField(OptionGroup, blank=True, related_name="items")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        constraints = [models.UniqueConstraint(fields=["menu", "name"], name="item_name_per_menu")]

    def __str__(self) -> str:
        return self.name

    @property
    def alias_list(self) -> list[str]:
        return split_aliases(self.aliases)


class OrderStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_PROGRESS = "in_progress", "In progress"
    READY = "ready", "Ready"
    PICKED_UP = "picked_up", "Picked up"
    CANCELLED = "cancelled", "Cancelled"


# Where each status may go; anything else is refused (a board clicked twice, a stale tab).
NEXT_STATUSES: dict[str, set[str]] = {
    OrderStatus.RECEIVED: {OrderStatus.IN_PROGRESS, OrderStatus.READY, OrderStatus.CANCELLED},
    OrderStatus.IN_PROGRESS: {OrderStatus.READY, OrderStatus.CANCELLED},
    OrderStatus.READY: {OrderStatus.PICKED_UP, OrderStatus.CANCELLED},
    OrderStatus.PICKED_UP: set(),
    OrderStatus.CANCELLED: set(),
}

STATUS_TIME_FIELD = {
    OrderStatus.RECEIVED: "created_at",
    OrderStatus.IN_PROGRESS: "started_at",
    OrderStatus.READY: "ready_at",
    OrderStatus.PICKED_UP: "picked_up_at",
    OrderStatus.CANCELLED: "cancelled_at",
}


class Order(TenantOwned):
    menu = models.ForeignKey(Menu, on_delete=models.PROTECT, related_name="orders")
    call = models.ForeignKey(
        "calls.Call", on_delete=models.SET_NULL, null=True, blank=True, related_name="orders"
    )
    number = models.CharField(max_length=12, help_text="Unique per tenant per business day.")
    business_date = models.DateField()
    phone = models.CharField(max_length=20, help_text="E.164; texts go here.")
    status = models.CharField(
        max_length=12, choices=OrderStatus.choices, default=OrderStatus.RECEIVED
    )
    total = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    picked_up_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "business_date", "number"], name="order_number_per_tenant_day"
            ),
            models.UniqueConstraint(
                fields=["call"], condition=models.Q(call__isnull=False), name="one_order_per_call"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at"]),
            models.Index(fields=["tenant", "phone", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"Order {self.number} ({self.business_date})"

    @property
    def spoken_number(self) -> str:
        """The number as said aloud, digit by digit: "1 0 4"."""
        return " ".join(self.number)

    @property
    def is_open(self) -> bool:
        return self.status not in (OrderStatus.PICKED_UP, OrderStatus.CANCELLED)

    def may_become(self, status: str) -> bool:
        return status in NEXT_STATUSES.get(self.status, set())


class OrderLine(models.Model):
    """One item of an order: a snapshot, so later menu edits do not rewrite past orders."""

    tenant_path = "order__tenant"
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, on_delete=models.SET_NULL, null=True, blank=True)
    name = models.CharField(max_length=120)
    quantity = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(**MONEY, help_text="Item and options, one unit.")
    line_total = models.DecimalField(**MONEY)
    options = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"group": "size", "choice": "large", "price": "1.00"}]',
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    def describe(self) -> str:
        picked = ", ".join(o["choice"] for o in self.options)
        return f"{self.quantity} x {self.name}" + (f" ({picked})" if picked else "")


class OrderCounter(models.Model):
    """The last order number given out per tenant per business day (see orders.numbers)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    business_date = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "business_date"], name="one_counter_per_tenant_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.business_date}: {self.last}"


class AbandonedCart(TenantOwned):
    """What was in the cart of a call that ended without checking out."""

    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="abandoned_carts")
    call = models.OneToOneField(
        "calls.Call", on_delete=models.CASCADE, related_name="abandoned_cart"
    )
    lines = models.JSONField(default=list)
    staged = models.JSONField(null=True, blank=True, help_text="An item not yet confirmed.")
    total = models.DecimalField(**MONEY)
    outcome = models.CharField(max_length=40, blank=True, help_text="How the call ended.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Abandoned cart of call {self.call_id}"

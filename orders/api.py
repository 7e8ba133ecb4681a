"""The orders API: menus with their parts (read nested, written part by part) and orders (read,
and moved through their statuses).

Tenant-scoped like the rest of the API (voiceapp.api): another tenant's ids are 404, and a
reference to another tenant's row in a write is refused (400, "does not exist"). Every member
of a tenant manages its menus (no part is `owner_only`). Availability changes and status moves
go through `orders.actions`, the one way each is made.
"""

from __future__ import annotations

import copy
import datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.status import HTTP_409_CONFLICT

from orders.actions import StatusRefused, change_status, set_availability
from orders.menu_checks import (
    check_default_count,
    check_item_parts,
    check_menu_agents,
    other_defaults,
)
from orders.models import (
    Category,
    Choice,
    ChoiceRule,
    Item,
    Menu,
    OpeningHours,
    OptionGroup,
    Order,
    OrderLine,
    OrderStatus,
)
from voiceapp.api import TenantScopedReadOnlyViewSet, TenantScopedSerializer, TenantScopedViewSet


class ModelChecksMixin:
    """Runs the model's own `clean()` (which DRF skips) on the row as it would be saved, then
    `check(row, attrs)` for the checks that look at neighbours; both answer 400."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        model = self.Meta.model
        row = copy.copy(self.instance) if self.instance is not None else model()
        many = {f.name for f in model._meta.many_to_many}
        for name, value in attrs.items():
            if name not in many:
                setattr(row, name, value)
        try:
            row.clean()
            self.check(row, attrs)
        except DjangoValidationError as error:
            raise ValidationError(serializers.as_serializer_error(error)) from None
        return attrs

    def check(self, row, attrs) -> None:
        pass


class MenuPartSerializer(ModelChecksMixin, TenantScopedSerializer):
    """A part of a menu: it reaches its tenant through the menu, so it has no tenant to set."""

    def create(self, validated_data):
        return serializers.ModelSerializer.create(self, validated_data)


class AvailabilityMixin:
    """`available` written through `set_availability`, so `menu_changed` is sent."""

    def update(self, instance, validated_data):
        wanted = validated_data.pop("available", None)
        instance = super().update(instance, validated_data)
        if wanted is not None and wanted != instance.available:
            set_availability(instance, wanted)
        return instance


class CategorySerializer(MenuPartSerializer):
    class Meta:
        model = Category
        fields = ["id", "menu", "name", "position"]


class OpeningHoursSerializer(MenuPartSerializer):
    class Meta:
        model = OpeningHours
        fields = ["id", "menu", "weekday", "opens", "closes"]


class ChoiceSerializer(AvailabilityMixin, MenuPartSerializer):
    class Meta:
        model = Choice
        fields = ["id", "group", "name", "price", "is_default", "available", "aliases", "position"]

    def check(self, row: Choice, attrs) -> None:
        if row.is_default:
            try:
                check_default_count(row.group, other_defaults(row.group, row) + 1)
            except DjangoValidationError as error:
                raise DjangoValidationError({"is_default": error.messages}) from None


class OptionGroupSerializer(MenuPartSerializer):
    choices = ChoiceSerializer(many=True, read_only=True)

    class Meta:
        model = OptionGroup
        fields = ["id", "menu", "name", "min_picks", "max_picks", "position", "choices"]

    def check(self, row: OptionGroup, attrs) -> None:
        if row.pk:
            try:
                check_default_count(row, other_defaults(row, None))
            except DjangoValidationError as error:
                raise DjangoValidationError({"max_picks": error.messages}) from None


class ItemSerializer(AvailabilityMixin, MenuPartSerializer):
    class Meta:
        model = Item
        fields = [
            "id",
            "menu",
            "category",
            "name",
            "description",
            "price",
            "available",
            "aliases",
            "option_groups",
            "position",
        ]

    def check(self, row: Item, attrs) -> None:
        groups = attrs.get("option_groups")
        if groups is None:
            groups = list(row.option_groups.all()) if row.pk else []
        check_item_parts(row.menu, row.category, groups)


class ChoiceRuleSerializer(MenuPartSerializer):
    class Meta:
        model = ChoiceRule
        fields = ["id", "menu", "choice", "kind", "other"]


class MenuSerializer(ModelChecksMixin, TenantScopedSerializer):
    categories = CategorySerializer(many=True, read_only=True)
    hours = OpeningHoursSerializer(many=True, read_only=True)
    option_groups = OptionGroupSerializer(many=True, read_only=True)
    items = ItemSerializer(many=True, read_only=True)
    rules = ChoiceRuleSerializer(many=True, read_only=True)

    class Meta:
        model = Menu
        fields = [
            "id",
            "tenant",
            "name",
            "active",
            "currency",
            "max_items_per_order",
            "agents",
            "created_at",
            "updated_at",
            "categories",
            "hours",
            "option_groups",
            "items",
            "rules",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def check(self, row: Menu, attrs) -> None:
        if "agents" in attrs:
            check_menu_agents(row, attrs["agents"])


class AvailabilitySerializer(serializers.Serializer):
    available = serializers.BooleanField()


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError({name: "A whole number."}) from None


class MenuPartViewSet(TenantScopedViewSet):
    """A menu's parts, listed for one menu with `?menu=<id>`."""

    parent_param = "menu"

    def get_queryset(self):
        queryset = super().get_queryset()
        parent = _int_param(self.request, self.parent_param)
        if parent is not None:
            queryset = queryset.filter(**{f"{self.parent_param}_id": parent})
        return queryset


class AvailabilityViewSetMixin:
    @extend_schema(
        request=AvailabilitySerializer,
        description="Mark sold out (`false`) or back on (`true`); the agent hears it at once.",
    )
    @action(detail=True, methods=["post"])
    def availability(self, request: Request, pk=None) -> Response:
        obj = self.get_object()
        body = AvailabilitySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        set_availability(obj, body.validated_data["available"])
        return Response(self.get_serializer(obj).data)


by_menu = extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("menu", int, description="Only this menu's rows.")]
    )
)
by_group = extend_schema_view(
    list=extend_schema(
        parameters=[OpenApiParameter("group", int, description="Only this group's choices.")]
    )
)


@extend_schema_view(
    destroy=extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(description="The menu has orders; set it inactive instead."),
        }
    )
)
class MenuViewSet(TenantScopedViewSet):
    queryset = Menu.objects.prefetch_related(
        "agents",
        "categories",
        "hours",
        "option_groups__choices",
        "items__option_groups",
        "rules",
    )
    serializer_class = MenuSerializer

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError:
            return Response(
                {"detail": "This menu has orders; set it inactive instead of deleting it."},
                status=HTTP_409_CONFLICT,
            )


@by_menu
class CategoryViewSet(MenuPartViewSet):
    queryset = Category.objects.all()
    serializer_class = CategorySerializer


@by_menu
class OpeningHoursViewSet(MenuPartViewSet):
    queryset = OpeningHours.objects.all()
    serializer_class = OpeningHoursSerializer


@by_menu
class OptionGroupViewSet(MenuPartViewSet):
    queryset = OptionGroup.objects.prefetch_related("choices")
    serializer_class = OptionGroupSerializer


@by_group
class ChoiceViewSet(AvailabilityViewSetMixin, MenuPartViewSet):
    queryset = Choice.objects.select_related("group")
    serializer_class = ChoiceSerializer
    parent_param = "group"


@by_menu
class ItemViewSet(AvailabilityViewSetMixin, MenuPartViewSet):
    queryset = Item.objects.prefetch_related("option_groups")
    serializer_class = ItemSerializer


@by_menu
class ChoiceRuleViewSet(MenuPartViewSet):
    queryset = ChoiceRule.objects.order_by("pk")
    serializer_class = ChoiceRuleSerializer


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["position", "item", "name", "quantity", "unit_price", "line_total", "options"]


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "number",
            "business_date",
            "menu",
            "call",
            "phone",
            "status",
            "total",
            "currency",
            "created_at",
            "started_at",
            "ready_at",
            "picked_up_at",
            "cancelled_at",
            "updated_at",
            "lines",
        ]


class OrderStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)


class OrderViewSet(TenantScopedReadOnlyViewSet):
    queryset = Order.objects.prefetch_related("lines")
    serializer_class = OrderSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=OrderStatus.values, description="This status."),
            OpenApiParameter("date", OpenApiTypes.DATE, description="This business day."),
            OpenApiParameter("menu", int, description="From this menu."),
        ]
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.action != "list":
            return queryset
        params = self.request.query_params
        wanted = params.get("status")
        if wanted:
            if wanted not in OrderStatus.values:
                raise ValidationError({"status": f"One of {', '.join(OrderStatus.values)}."})
            queryset = queryset.filter(status=wanted)
        day = params.get("date")
        if day:
            try:
                queryset = queryset.filter(business_date=datetime.date.fromisoformat(day))
            except ValueError:
                raise ValidationError({"date": "A date as YYYY-MM-DD."}) from None
        menu = _int_param(self.request, "menu")
        if menu is not None:
            queryset = queryset.filter(menu_id=menu)
        return queryset

    @extend_schema(
        request=OrderStatusSerializer,
        responses={
            200: OrderSerializer,
            409: OpenApiResponse(description="The order's status does not allow this move."),
        },
        description="Move the order on (received → in progress → ready → picked up, or cancelled).",
    )
    @action(detail=True, methods=["post"])
    def status(self, request: Request, pk=None) -> Response:
        order = self.get_object()
        body = OrderStatusSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            order = change_status(
                order.pk, body.validated_data["status"], by=request.user.get_username()
            )
        except StatusRefused as refusal:
            return Response({"detail": str(refusal)}, status=HTTP_409_CONFLICT)
        order = self.get_queryset().get(pk=order.pk)
        return Response(self.get_serializer(order).data)
